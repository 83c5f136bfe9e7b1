"""The ndau node's REST API (ndauapi), the endpoints the issuer needs and nothing else.

Shapes follow ``github.com/ndau/ndau`` ``pkg/ndauapi`` (``svc/svc.go``, ``routes/*.go``):

* ``GET /system/get/ReleaseFromEndowmentAddress`` -> ``{"ReleaseFromEndowmentAddress": [addr]}``
* ``GET /account/account/{address}`` -> ``{address: {"balance", "validationKeys", "sequence"...}}``
* ``GET /price/current`` -> ``{"totalReleased", "totalIssued", ...}`` in napu
* ``POST /tx/prevalidate/issue`` -> 200 ``{"fee_napu", "sib_napu", "hash", "code": 0}``, 202 with
  ``code`` 1002 "tx already committed", 400 with ``err`` (and ``code`` 1001) or ``msg``
* ``POST /tx/submit/issue`` -> 200 ``{"hash", "code": 0}`` (committed synchronously), 202 with
  code 1002 when the same tx (same hash) is already on the chain, 400 ``{"msg"}`` when refused
* ``GET /transaction/detail/{hash}`` -> ``null`` when the node does not have it, or
  ``{"BlockHeight", "TxHash", "TxType", "TxData", ...}``
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from backend.core.http import HttpClientFactory, ProviderError
from backend.issuer.errors import NdauNodeError
from backend.issuer.http_call import Answer, call
from backend.ndau.keys import NdauKeyError, PublicKey
from backend.ndau.tx import PREVALIDATE_PATH, SUBMIT_PATH, IssueTx

RFE_SYSVAR = "ReleaseFromEndowmentAddress"
CODE_OK = 0
CODE_FAIL = 1001
CODE_ALREADY_COMMITTED = 1002


@dataclass(frozen=True, slots=True)
class NdauAccount:
    address: str
    sequence: int
    validation_keys: tuple[PublicKey, ...]
    balance_napu: int


@dataclass(frozen=True, slots=True)
class NdauSupply:
    total_released_napu: int
    total_issued_napu: int

    @property
    def issuable_napu(self) -> int:
        return self.total_released_napu - self.total_issued_napu


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What the node said about a prevalidated or submitted tx."""

    accepted: bool  # valid (prevalidate) or committed (submit)
    already_committed: bool
    status: int
    tx_hash: str | None
    message: str | None

    @property
    def on_chain(self) -> bool:
        return self.already_committed


@dataclass(frozen=True, slots=True)
class TxDetail:
    tx_hash: str
    tx_type: str
    block_height: int
    tx_data: dict[str, Any]
    timestamp: str | None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        raise NdauNodeError(f"ndau node: {what} is not an integer")
    return value


class NdauNodeClient:
    def __init__(self, http: HttpClientFactory, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.provider = http.provider("ndau-node", self.base_url, kind="blockchain")
        self._rfe_address: str | None = None

    async def _get(self, path: str) -> Any:
        """The JSON body of a 200; the node always sends one, so an empty body is an error."""
        answer = await self._call("GET", path)
        what = path.split("/")[1]
        if answer.status != 200:
            raise NdauNodeError(f"ndau node: GET {what} answered {answer.status}")
        if answer.empty:
            raise NdauNodeError(f"ndau node: GET {what} answered 200 with an empty body")
        return answer.body

    async def _call(self, method: str, path: str, body: bytes | None = None) -> Answer:
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            return await call(self.provider, method, path, content=body, headers=headers)
        except ProviderError as exc:
            raise NdauNodeError(f"ndau node unreachable: {exc}") from None

    async def rfe_address(self) -> str:
        """The ReleaseFromEndowment account: the source (and signer) of every Issue tx."""
        if self._rfe_address is None:
            body = await self._get(f"/system/get/{RFE_SYSVAR}")
            value = body.get(RFE_SYSVAR) if isinstance(body, dict) else None
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, str) or not value:
                raise NdauNodeError(f"ndau node: system variable {RFE_SYSVAR} is not set")
            self._rfe_address = value
        return self._rfe_address

    async def account(self, address: str) -> NdauAccount:
        body = await self._get(f"/account/account/{quote(address, safe='')}")
        data = body.get(address) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise NdauNodeError(f"ndau node: account {address} is not on the chain")
        keys: list[PublicKey] = []
        for text in data.get("validationKeys") or []:
            try:
                keys.append(PublicKey.from_text(text))
            except NdauKeyError as exc:
                raise NdauNodeError(f"ndau node: account {address}: {exc}") from None
        return NdauAccount(
            address=address,
            sequence=_int(data.get("sequence", 0), "sequence"),
            validation_keys=tuple(keys),
            balance_napu=_int(data.get("balance", 0), "balance"),
        )

    async def rfe_account(self) -> NdauAccount:
        return await self.account(await self.rfe_address())

    async def supply(self) -> NdauSupply:
        body = await self._get("/price/current")
        if not isinstance(body, dict) or "totalIssued" not in body:
            raise NdauNodeError("ndau node: /price/current has no totalIssued")
        if "totalReleased" not in body:
            raise NdauNodeError(
                "ndau node: /price/current has no totalReleased; cannot check the RFE'd supply"
            )
        return NdauSupply(
            total_released_napu=_int(body["totalReleased"], "totalReleased"),
            total_issued_napu=_int(body["totalIssued"], "totalIssued"),
        )

    async def prevalidate(self, tx: IssueTx) -> TxOutcome:
        return await self._tx(PREVALIDATE_PATH, tx)

    async def submit(self, tx: IssueTx) -> TxOutcome:
        """Submit; a 202 with code 1002 (same hash already committed) counts as success."""
        return await self._tx(SUBMIT_PATH, tx)

    async def _tx(self, path: str, tx: IssueTx) -> TxOutcome:
        answer = await self._call("POST", path, json.dumps(tx.to_json()).encode())
        data = answer.body if isinstance(answer.body, dict) else {}
        code = data.get("code") if type(data.get("code")) is int else None
        tx_hash = data.get("hash") if isinstance(data.get("hash"), str) else None
        message = data.get("err") or data.get("msg")
        message = str(message)[:300] if message else None
        if answer.status == 202 and code == CODE_ALREADY_COMMITTED:
            return TxOutcome(True, True, answer.status, tx_hash, message)
        # Only an explicit code 0 is success: an empty or code-less 200 proves nothing was
        # committed, and taking it for "accepted" would let a foreign reply confirm the issue.
        if answer.status == 200 and code == CODE_OK:
            return TxOutcome(True, False, answer.status, tx_hash, message)
        if 400 <= answer.status < 500:
            return TxOutcome(False, False, answer.status, tx_hash, message or "refused")
        body = "an empty body" if answer.empty else f"code {code}"
        raise NdauNodeError(f"ndau node: unexpected answer HTTP {answer.status} ({body}) to {path}")

    async def transaction(self, tx: IssueTx) -> TxDetail | None:
        """Our committed Issue `tx`, or None when the node answers `null` (it does not have it).

        Anything else that is not exactly our tx is an error, never a verdict: read as "absent"
        it would make the engine sign the sale again, read as "present" it would lose it.
        """
        tx_hash = tx.tx_hash()
        body = await self._get(f"/transaction/detail/{quote(tx_hash, safe='')}")
        if body is None:
            return None
        if not isinstance(body, dict):
            raise NdauNodeError(f"ndau node: detail of tx {tx_hash} is not an object")
        if "BlockHeight" not in body:
            raise NdauNodeError(f"ndau node: detail of tx {tx_hash} has no BlockHeight")
        height = _int(body["BlockHeight"], "BlockHeight")
        if height <= 0:
            raise NdauNodeError(f"ndau node: detail of tx {tx_hash} has BlockHeight {height}")
        found = (str(body.get("TxHash"))[:60], str(body.get("TxType"))[:40])
        if found != (tx_hash, "Issue"):
            raise NdauNodeError(
                f"ndau node: detail of tx {tx_hash} describes tx {found[0]} ({found[1]}), "
                "not our Issue"
            )
        raw = body.get("TxData")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        for name, ours in (("qty", tx.qty), ("sequence", tx.sequence)):
            theirs = _int(data[name], name) if name in data else ours
            if theirs != ours:
                raise NdauNodeError(
                    f"ndau node: detail of tx {tx_hash} has {name} {str(theirs)[:24]}, "
                    f"ours is {ours}"
                )
        return TxDetail(
            tx_hash=tx_hash,
            tx_type="Issue",
            block_height=height,
            tx_data=data,
            timestamp=body.get("Timestamp") if isinstance(body.get("Timestamp"), str) else None,
        )
