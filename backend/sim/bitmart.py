"""A Bitmart spot API on 127.0.0.1: signed account trades, exactly as Bitmart's v4 API answers.

It checks X-BM-KEY / X-BM-TIMESTAMP / X-BM-SIGN like Bitmart (401 with codes 30001-30008),
enforces 12 requests per 2 s per key (429, code 30013, with the X-BM-RateLimit-* headers),
and answers `POST /spot/v4/query/trades` with at most `limit` trades of the window, newest
first, so a client that does not split full pages loses trades here just as it would there.
Trades are added by tests (`add_trade`) or, in the demo, produced every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import secrets
import socket
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.asgi import QuietUvicornServer
from backend.core.http_wire import http_protocol

FIRST_TRADE_ID = 125_277_182_593_091_639
TIMESTAMP_WINDOW_MS = 60_000


class _QuietServer(QuietUvicornServer):
    """The shared quiet server (no signal handlers, our logging) with a main loop that ends as
    soon as it is told to, rather than on its next 0.1 s poll."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    async def main_loop(self) -> None:
        while not await self.on_tick(0):  # tick 0 refreshes the Date header, once a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), 1.0)


class LoopbackAsgiServer:
    """Serve an ASGI app on 127.0.0.1 (port 0 = any free port) in the running loop."""

    def __init__(self, app: Any, port: int = 0, *, websockets: bool = False) -> None:
        self.app = app
        self.requested_port = port
        self.websockets = websockets
        self.port = 0
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.requested_port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,  # records go to the process's redacting handlers
            log_level=None,
            access_log=False,
            lifespan="off",
            ws="auto" if self.websockets else "none",
            ws_max_size=64 * 1024,
            http=http_protocol(),  # the request head bounded, as the API's
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True  # a simulator owes its clients no graceful drain
        self._server.exit_requested.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 3)
        except (TimeoutError, Exception):
            self._server.force_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 1)
        self._server = None
        self._task = None


def _id_order(trade_id: str) -> int:
    """A trade id's place in Bitmart's order; a garbled id sorts as the first id there is."""
    return int(trade_id) if trade_id.isascii() and trade_id.isdigit() else FIRST_TRADE_ID


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"code": code, "message": message, "trace": secrets.token_hex(16)}
    return JSONResponse(body, status_code=status, headers=headers)


class BitmartSimulator:
    """The Bitmart v4 spot account-trade API with one API key."""

    def __init__(
        self,
        *,
        symbol: str = "NDAU_USDT",
        rate_limit: int = 12,
        rate_window_s: float = 2.0,
        demo_trades: bool = False,
        trade_interval_s: float = 4.0,
        seed: int = 7,
        port: int = 0,
    ) -> None:
        self.symbol = symbol
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.demo_trades = demo_trades
        self.trade_interval_s = trade_interval_s
        self.access = secrets.token_hex(20)
        self.secret = secrets.token_hex(32)
        self.memo = "hashinsight-sim"
        self.trades: list[dict[str, Any]] = []
        self.requests = 0
        self.rate_limited = 0
        self.auth_failures: list[int] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer with, one per request
        self.started_at_ms = int(time.time() * 1000)
        self._next_id = FIRST_TRADE_ID
        self._calls: dict[str, deque[float]] = {}
        self._rng = random.Random(seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="hashinsight-bitmart-sim-")
        self.key_file = Path(self._tmp.name) / "sim.apikey.json"
        self._write_key_file()
        app = Starlette(
            routes=[
                Route("/spot/v4/query/trades", self._query_trades, methods=["POST"]),
                Route("/system/time", self._system_time, methods=["GET"]),
            ]
        )
        self._server = LoopbackAsgiServer(app, port)
        self._producer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        await self._server.start()
        if self.demo_trades:
            self._producer = asyncio.create_task(self._produce(), name="bitmart-sim-trades")

    async def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        await self._server.stop()

    def cleanup(self) -> None:
        self._tmp.cleanup()

    def settings_overrides(self) -> dict[str, Any]:
        start = datetime.fromtimestamp(self.started_at_ms / 1000, UTC).isoformat()
        return {
            "bitmart_url": self.url,
            "issuer_bitmart_key_file": self.key_file,
            "issuer_symbol": self.symbol,
            # The demo issues on its own from the moment the simulated exchange opened.
            "issuer_start_at": start,
            "issuer_mode": "auto",
            "issuer_poll_s": 2.0,
            "issuer_settle_s": 1.0,
        }

    def describe(self) -> list[str]:
        return [f"Bitmart spot API (signed, {self.symbol}): {self.url}"]

    def write_key_file(self, path: Path, *, endpoint: bool = False) -> Path:
        """A 0600 `*apikey.json` for this simulator's key, for tests that configure files."""
        body: dict[str, str] = {"access": self.access, "secret": self.secret, "memo": self.memo}
        if endpoint:
            body["endpoint"] = self.url
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle)
        return path

    def _write_key_file(self) -> None:
        self.write_key_file(self.key_file)

    # ------------------------------------------------------------------ trades

    def add_trade(
        self,
        *,
        side: str = "sell",
        size: str | Decimal = "1.5",
        price: str | Decimal = "0.0125",
        at_ms: int | None = None,
        symbol: str | None = None,
        trade_id: str | None = None,
    ) -> dict[str, Any]:
        """Record a fill on the simulated account; returns it in Bitmart's wire shape. A
        `trade_id` that is not a decimal integer (e.g. "1²") plays a garbled listing."""
        if trade_id is None:
            trade_id = str(self._next_id)
            self._next_id += self._rng.randint(1, 999)
        created = at_ms if at_ms is not None else int(time.time() * 1000)
        size_d, price_d = Decimal(str(size)), Decimal(str(price))
        order_id = str(_id_order(trade_id) - 64_123_862)
        trade = {
            "tradeId": trade_id,
            "orderId": order_id,
            "clientOrderId": order_id,
            "symbol": symbol or self.symbol,
            "side": side,
            "orderMode": "spot",
            "type": "limit",
            "stpMode": "none",
            "price": str(price_d),
            "size": str(size_d),
            "notional": str(price_d * size_d),
            "fee": "0",
            "feeCoinName": "USDT",
            "tradeRole": "maker",
            "createTime": created,
            "updateTime": created,
        }
        self.trades.append(trade)
        return trade

    def sales_total(self, start_ms: int = 0, end_ms: int = 2**62) -> Decimal:
        """Exact total size of this symbol's sell trades in `[start, end)`."""
        return sum(
            (
                Decimal(t["size"])
                for t in self.trades
                if t["side"] == "sell"
                and t["symbol"] == self.symbol
                and start_ms <= t["createTime"] < end_ms
            ),
            Decimal(0),
        )

    async def _produce(self) -> None:
        while True:
            await asyncio.sleep(self.trade_interval_s)
            for _ in range(self._rng.randint(1, 3)):
                side = "sell" if self._rng.random() < 0.75 else "buy"
                size = Decimal(self._rng.randint(1, 250_000)).scaleb(-2)
                price = Decimal(self._rng.randint(1150, 1350)).scaleb(-5)
                self.add_trade(side=side, size=size, price=price)

    # ------------------------------------------------------------------ HTTP

    async def _system_time(self, _request: Request) -> Response:
        data = {"server_time": int(time.time() * 1000)}
        return JSONResponse({"code": 1000, "message": "OK", "data": data})

    def _auth(self, request: Request, body: bytes) -> Response | None:
        key = request.headers.get("X-BM-KEY", "")
        sign = request.headers.get("X-BM-SIGN", "")
        stamp = request.headers.get("X-BM-TIMESTAMP", "")
        failure: tuple[int, str] | None = None
        if not key:
            failure = (30001, "Header X-BM-KEY is empty")
        elif key != self.access:
            failure = (30002, "Header X-BM-KEY not found")
        elif not sign:
            failure = (30004, "Header X-BM-SIGN is empty")
        elif not stamp:
            failure = (30006, "Header X-BM-TIMESTAMP is empty")
        elif not stamp.isdigit():
            failure = (30008, "Header X-BM-TIMESTAMP invalid format")
        elif abs(int(stamp) - int(time.time() * 1000)) > TIMESTAMP_WINDOW_MS:
            failure = (30007, "Header X-BM-TIMESTAMP range. Within a minute")
        else:
            message = stamp.encode() + b"#" + self.memo.encode() + b"#" + body
            expected = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, sign):
                failure = (30005, "Header X-BM-SIGN is wrong")
        if failure is None:
            return None
        self.auth_failures.append(failure[0])
        return _error(401, *failure)

    def _rate(self, key: str) -> tuple[bool, dict[str, str]]:
        now = time.monotonic()
        calls = self._calls.setdefault(key, deque())
        while calls and now - calls[0] >= self.rate_window_s:
            calls.popleft()
        allowed = len(calls) < self.rate_limit
        if allowed:
            calls.append(now)
        headers = {
            # Bitmart's own (documented) meaning: "Remaining" counts the calls already made.
            "X-BM-RateLimit-Remaining": str(len(calls)),
            "X-BM-RateLimit-Limit": str(self.rate_limit),
            "X-BM-RateLimit-Reset": f"{self.rate_window_s:g}",
        }
        return allowed, headers

    async def _query_trades(self, request: Request) -> Response:
        self.requests += 1
        if self.fail_next:
            return _error(self.fail_next.pop(0), 30014, "Service unavailable")
        body = await request.body()
        refused = self._auth(request, body)
        if refused is not None:
            return refused
        allowed, headers = self._rate(self.access)
        if not allowed:
            self.rate_limited += 1
            return _error(429, 30013, "Request too many requests", headers)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return _error(400, 50000, "Bad Request", headers)
        if not isinstance(params, dict):
            return _error(400, 50000, "Bad Request", headers)
        limit = params.get("limit", 200)
        start = params.get("startTime")
        end = params.get("endTime")
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            return _error(400, 50000, "Bad Request: limit must be in [1,200]", headers)
        for value in (start, end):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return _error(400, 50000, "Bad Request: startTime/endTime must be Long", headers)
        if start is not None and end is not None and end <= start:
            return _error(400, 50000, "Bad Request: endTime must be greater than startTime")
        now_ms = int(time.time() * 1000)
        lo = start if start is not None else now_ms - 7 * 86_400_000
        hi = end if end is not None else now_ms
        symbol = params.get("symbol")
        rows = [
            t
            for t in self.trades
            if lo <= t["createTime"] <= hi and (symbol is None or t["symbol"] == symbol)
        ]
        rows.sort(key=lambda t: (t["createTime"], _id_order(t["tradeId"])), reverse=True)
        data = rows[:limit]
        return JSONResponse(
            {"code": 1000, "message": "success", "data": data, "trace": secrets.token_hex(16)},
            headers=headers,
        )
