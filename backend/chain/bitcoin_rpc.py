"""A Bitcoin node over JSON-RPC (Bitcoin Core, or a hosted endpoint such as Ankr's).

Used when `bitcoin_rpc_url` (env `ANKR_RPC_URL`) is set. Calls `getblockchaininfo` and
`getmininginfo` (`networkhashps` is H/s, estimated by the node over the last 120 blocks); the next
retarget is estimated from the time of the first block of the current 2016-block period
(`getblockhash` + `getblockheader`). The URL can hold credentials (user:password@ or a key in the
path): credentials go to an Authorization header, and the URL is never logged or shown.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from backend.chain.difficulty import estimate
from backend.chain.models import RETARGET_INTERVAL, NetworkReading, NextAdjustment
from backend.core.clock import Clock
from backend.core.http import ProviderClient, ProviderError
from backend.providers.values import PayloadError, num, obj, rejected, seconds_epoch

NAME = "bitcoin_rpc"


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """`http://u:p@host/x` → (`http://host/x`, Basic auth header)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return clean, {"Authorization": f"Basic {token}"}


def public_target(url: str) -> str:
    """What health may show of a node URL: scheme and host only (keys often sit in the path)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…" if parts.path.strip("/") else f"{parts.scheme}://{host}"


def parse_rpc_reply(payload: Any, method: str) -> Any:
    where = f"bitcoin rpc {method}"
    reply = obj(payload, where)
    error = reply.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise PayloadError(f"{where}: node error: {str(message)[:120]}")
    if "result" not in reply:
        raise PayloadError(f"{where}: no 'result' in the reply")
    return reply["result"]


def parse_network(chain_info: Any, mining_info: Any) -> tuple[NetworkReading, float]:
    where = "bitcoin rpc"
    chain = obj(chain_info, f"{where} getblockchaininfo")
    mining = obj(mining_info, f"{where} getmininginfo")
    tip_time = chain.get("time") or chain.get("mediantime")
    as_of = seconds_epoch(num({"t": tip_time}, "t", f"{where} tip time"), f"{where} tip time")
    reading = NetworkReading(
        hashrate_hs=num(mining, "networkhashps", f"{where} getmininginfo"),
        difficulty=num(chain, "difficulty", f"{where} getblockchaininfo"),
        tip_height=int(num(chain, "blocks", f"{where} getblockchaininfo")),
    )
    return reading, as_of


def estimate_adjustment(tip: int, tip_time: float, period_start_time: float) -> NextAdjustment:
    """Mean block time since the current period began, projected over the blocks to come."""
    mined = tip % RETARGET_INTERVAL
    if mined == 0:
        raise PayloadError("bitcoin rpc: a retarget just happened; no blocks to estimate from yet")
    elapsed = tip_time - period_start_time
    if elapsed <= 0:
        raise PayloadError("bitcoin rpc: block times do not advance; cannot estimate")
    return estimate(tip, elapsed / mined, tip_time, "node: mean block time since the period start")


class BitcoinRpcClient:
    def __init__(self, provider: ProviderClient, clock: Clock) -> None:
        self.provider = provider
        self.clock = clock
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = await self.provider.request("POST", "", json=body)
        except ProviderError as exc:
            if exc.status in (401, 403):
                message = "node refused the credentials"
                raise ProviderError(self.provider.name, message, exc.status) from None
            raise
        try:
            payload = self.provider.decode(response)
        except ProviderError as exc:
            raise ProviderError(self.provider.name, f"{method}: {exc}", exc.status) from None
        try:
            return parse_rpc_reply(payload, method)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def network(self) -> tuple[NetworkReading, float]:
        chain_info = await self.call("getblockchaininfo")
        mining_info = await self.call("getmininginfo")
        try:
            reading, as_of = parse_network(chain_info, mining_info)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
        return reading, min(as_of, self.clock.time())

    async def tip_height(self) -> tuple[int, float]:
        height = await self.call("getblockcount")
        if not isinstance(height, int) or height <= 0:
            raise rejected(self.provider, f"getblockcount: {str(height)[:40]!r} is not a height")
        return height, self.clock.time()

    async def adjustment(self) -> tuple[NextAdjustment, float]:
        reading, tip_time = await self.network()
        start_height = reading.tip_height - reading.tip_height % RETARGET_INTERVAL
        start_hash = await self.call("getblockhash", start_height)
        header = await self.call("getblockheader", start_hash)
        try:
            where = "bitcoin rpc getblockheader"
            start_time = seconds_epoch(num(obj(header, where), "time", where), where)
            return estimate_adjustment(reading.tip_height, tip_time, start_time), tip_time
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
