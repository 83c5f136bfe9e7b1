"""Loopback simulator of Pinata: `pinJSONToIPFS` and a gateway serving pinned bytes by CID.

It stores what Pinata stores: its own JSON.stringify of ``pinataContent`` (insertion order, no
whitespace; integer-like keys first, as JavaScript orders them), addressed by the CID ``ipfs add``
gives those bytes (CIDv0 by default, CIDv1 with ``pinataOptions.cidVersion: 1``). Answers have
Pinata's shape: ``{"IpfsHash", "PinSize", "Timestamp", "isDuplicate"}``; a missing or wrong JWT
gets HTTP 401.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.asgi import LoopbackAsgiServer
from backend.notary.canonical import format_number
from backend.notary.cid import InvalidCid, cid_v0, normalize_cid, to_cid_v1


def js_stringify(value: Any) -> str:
    """JSON.stringify of a parsed JSON value (object keys in JavaScript's property order)."""
    if isinstance(value, dict):
        keys = list(value)
        index_keys = sorted((k for k in keys if _array_index(k)), key=int)
        ordered = index_keys + [k for k in keys if not _array_index(k)]
        return "{" + ",".join(f"{js_stringify(k)}:{js_stringify(value[k])}" for k in ordered) + "}"
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    if isinstance(value, float):
        return format_number(value)  # ECMAScript Number.prototype.toString
    return json.dumps(value, ensure_ascii=False)


def _array_index(key: str) -> bool:
    return key.isdigit() and (key == "0" or not key.startswith("0")) and int(key) < 2**32 - 1


class PinataSimulator:
    def __init__(self, jwt: str | None = None) -> None:
        self.jwt = jwt or "sim-" + secrets.token_hex(16)
        self.pins: dict[str, bytes] = {}  # CIDv0 -> bytes
        self.requests = 0
        self.fail_next = 0  # answer HTTP 500 this many times (fault injection)
        self.port: int | None = None
        self._http: LoopbackAsgiServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/pinning/pinJSONToIPFS", self._pin, methods=["POST"]),
                Route("/ipfs/{cid}", self._gateway, methods=["GET"]),
            ]
        )

    async def _pin(self, request: Request) -> Response:
        self.requests += 1
        if request.headers.get("authorization") != f"Bearer {self.jwt}":
            return JSONResponse(
                {"error": {"reason": "INVALID_CREDENTIALS", "details": "Invalid/expired JWT"}},
                status_code=401,
            )
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "Internal Server Error"}, status_code=500)
        try:
            body = json.loads(await request.body())
            content = body["pinataContent"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"error": {"reason": "INVALID_JSON", "details": "pinataContent is required"}},
                status_code=400,
            )
        options = body.get("pinataOptions") or {}
        data = js_stringify(content).encode("utf-8")
        cid = await asyncio.to_thread(cid_v0, data)
        duplicate = cid in self.pins
        self.pins[cid] = data
        shown = to_cid_v1(cid) if options.get("cidVersion") == 1 else cid
        return JSONResponse(
            {
                "IpfsHash": shown,
                "PinSize": len(data),
                "Timestamp": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "isDuplicate": duplicate,
            }
        )

    async def _gateway(self, request: Request) -> Response:
        try:
            cid = normalize_cid(request.path_params["cid"])
        except InvalidCid:
            return Response("invalid CID", status_code=400, media_type="text/plain")
        data = self.pins.get(cid)
        if data is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(data, media_type="application/json")

    async def start(self) -> None:
        self._http = LoopbackAsgiServer(self.app(), "sim-pinata")
        await self._http.start()
        self.port = self._http.port

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "pinata_url": self.url,
            "pinata_gateway_url": self.url,
            "pinata_jwt": SecretStr(self.jwt),
        }

    def describe(self) -> list[str]:
        return [f"pinata        {self.url}  (pinJSONToIPFS, gateway /ipfs/<cid>)"]
