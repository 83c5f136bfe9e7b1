"""Pinata client: pin a report with `pinJSONToIPFS` and read pinned bytes back from a gateway.

Wire format (docs.pinata.cloud, "Pin JSON"): ``POST {api}/pinning/pinJSONToIPFS`` with
``Authorization: Bearer <JWT>`` and a JSON body ``{"pinataContent": <object>, "pinataMetadata":
{"name", "keyvalues"}, "pinataOptions": {"cidVersion": 0}}``; the answer is ``{"IpfsHash",
"PinSize", "Timestamp", "isDuplicate"}``. Pinata stores its own serialization of
``pinataContent`` (JSON.stringify), so the CID it returns may differ from the CID of our canonical
bytes; verification therefore re-canonicalizes whatever the CID holds before hashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.core.http import HttpClientFactory, ProviderClient, ProviderError
from backend.notary.canonical import canonical_json
from backend.notary.cid import InvalidCid, normalize_cid

PIN_PATH = "/pinning/pinJSONToIPFS"
MAX_CONTENT_BYTES = 10 * 1024 * 1024


class PinataError(Exception):
    """Pinning or fetching failed; the message is safe to store and show (never the JWT)."""


@dataclass(frozen=True, slots=True)
class PinResult:
    cid: str
    size: int
    timestamp: str
    is_duplicate: bool


class PinataClient:
    def __init__(
        self, http: HttpClientFactory, api_url: str, gateway_url: str, jwt: str, timeout_s: float
    ) -> None:
        self._api: ProviderClient = http.provider(
            "pinata",
            api_url,
            kind="ipfs-pinning",
            timeout_s=timeout_s,
            headers={"Authorization": f"Bearer {jwt}"},
        )
        self._gateway: ProviderClient = http.provider(
            "ipfs-gateway", gateway_url, kind="ipfs-gateway", timeout_s=timeout_s
        )

    async def pin_json(
        self, content: dict[str, Any], name: str, keyvalues: dict[str, str]
    ) -> PinResult:
        body = canonical_json(
            {
                "pinataContent": content,
                "pinataMetadata": {"name": name, "keyvalues": keyvalues},
                "pinataOptions": {"cidVersion": 0},
            }
        )
        try:
            response = await self._api.request(
                "POST", PIN_PATH, content=body, headers={"Content-Type": "application/json"}
            )
        except ProviderError as exc:
            raise PinataError(str(exc)) from None
        try:
            data = self._api.decode(response)
        except ProviderError as exc:
            raise PinataError(str(exc)) from None
        try:
            cid = str(data["IpfsHash"])
            normalize_cid(cid)  # a dag-pb sha2-256 CID, as asked for with cidVersion 0
            return PinResult(
                cid=cid,
                size=int(data.get("PinSize") or 0),
                timestamp=str(data.get("Timestamp") or ""),
                is_duplicate=bool(data.get("isDuplicate", False)),
            )
        except (ValueError, KeyError, TypeError, InvalidCid):
            self._api.report_bad_payload("pinJSONToIPFS answer without a usable IpfsHash")
            raise PinataError("pinata: answer without a usable IpfsHash") from None

    async def cat(self, cid: str) -> bytes:
        """The bytes a gateway serves for `cid` (checked against the CID by the caller)."""
        try:
            response = await self._gateway.request("GET", f"/ipfs/{normalize_cid(cid)}")
        except InvalidCid as exc:
            raise PinataError(f"invalid CID: {exc}") from None
        except ProviderError as exc:
            raise PinataError(str(exc)) from None
        if len(response.content) > MAX_CONTENT_BYTES:
            raise PinataError("gateway answer is larger than any report")
        return response.content
