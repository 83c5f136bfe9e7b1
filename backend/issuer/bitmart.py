"""Bitmart's signed spot API: the account's trade history (`POST /spot/v4/query/trades`).

Why it pages by time: the endpoint has no cursor, returns at most `limit` (<= 200) trades of a
`startTime`/`endTime` window and does not say which ones it dropped when there were more. So a
full page means "split the window and ask again", trades are deduplicated by `tradeId` and
ordered locally by (createTime, tradeId). Windows are asked one millisecond wider on each side
and filtered here to the half-open `[start, end)`, so it does not matter whether Bitmart treats
its bounds as inclusive or exclusive.

Every request is signed over exactly the bytes sent (X-BM-SIGN = hex HMAC-SHA256(secret,
timestamp#memo#body)) and paced to 12 requests per 2 s per key; a 429 backs off and retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.core.clock import Clock
from backend.core.http import HttpClientFactory, ProviderError, RateLimitedError
from backend.core.sliding_window import SlidingWindow
from backend.issuer.apikey import BitmartApiKey
from backend.issuer.errors import (
    BitmartAuthError,
    BitmartError,
    BitmartRateLimited,
    TradeDataError,
)
from backend.issuer.http_call import call
from backend.ndau.tx import NdauAmountError, ndau_to_napu

log = logging.getLogger("hashinsight.issuer.bitmart")

TRADES_PATH = "/spot/v4/query/trades"
PAGE_LIMIT = 200
RATE_LIMIT_CALLS = 12
RATE_LIMIT_WINDOW_S = 2.0
# Requests are paced on send but counted by Bitmart on arrival: this slack absorbs up to that
# much difference in delay between two requests (a busy host, a slow network path).
PACING_SLACK_S = 0.2
PACING_WINDOW_S = RATE_LIMIT_WINDOW_S + PACING_SLACK_S
MAX_429_RETRIES = 4
SENT = "sent"  # the one key of a client's window: every request counts against the API key
OK_CODE = 1000

AUTH_HINTS = {
    30001: "the X-BM-KEY header is empty",
    30002: "Bitmart does not know this access key",
    30003: "this access key is frozen",
    30004: "the X-BM-SIGN header is empty",
    30005: "bad signature: check the secret and memo in the key file",
    30006: "the X-BM-TIMESTAMP header is empty",
    30007: "timestamp outside Bitmart's 1-minute window: check this machine's clock (NTP)",
    30008: "the X-BM-TIMESTAMP header is malformed",
    30010: "this IP is not on the key's whitelist",
    30011: "this access key has expired",
    30012: "this access key may not call this endpoint",
}


@dataclass(frozen=True, slots=True)
class Trade:
    """One account trade as Bitmart reported it; amounts are exact decimals."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    notional: Decimal | None
    create_time_ms: int

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.create_time_ms, int(self.trade_id))

    def napu(self) -> int:
        """The size in napu, exactly; a size finer than 1 napu is an error, never truncated."""
        try:
            return ndau_to_napu(self.size)
        except NdauAmountError as exc:
            raise TradeDataError(f"trade {self.trade_id}: size {self.size}: {exc}") from None


class RateLimiter:
    """At most `calls` requests in any `window_s` seconds (one API key's sliding window): a
    request waits its turn instead of being refused."""

    def __init__(
        self, clock: Clock, calls: int = RATE_LIMIT_CALLS, window_s: float = PACING_WINDOW_S
    ) -> None:
        self.clock = clock
        self.calls = calls
        self.window_s = window_s
        self._window = SlidingWindow(calls, window_s, clock)
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                blocked = self._blocked_until - self.clock.monotonic()
                wait = max(blocked, self._window.retry_after(SENT) or 0.0)
                if wait <= 0:
                    self._window.hit(SENT)
                    return
                await asyncio.sleep(wait)

    def penalize(self, seconds: float) -> None:
        """After a 429: send nothing more for `seconds`."""
        self._blocked_until = max(self._blocked_until, self.clock.monotonic() + seconds)


def parse_trade(row: Any) -> Trade:
    """One element of `data`; anything unexpected is a clear `TradeDataError`."""
    if not isinstance(row, dict):
        raise TradeDataError("Bitmart trade is not a JSON object")
    trade_id = _id_text(row.get("tradeId"), "tradeId")
    try:
        create_time = row["createTime"]
        if isinstance(create_time, bool) or not isinstance(create_time, int):
            raise TypeError
        side = str(row["side"]).lower()
        symbol = str(row["symbol"])
        price = _decimal(row["price"], "price", trade_id)
        size = _decimal(row["size"], "size", trade_id)
        notional = _decimal(row["notional"], "notional", trade_id) if "notional" in row else None
    except (KeyError, TypeError):
        raise TradeDataError(f"Bitmart trade {trade_id} lacks a field or has a bad type") from None
    if side not in ("buy", "sell"):
        raise TradeDataError(f"Bitmart trade {trade_id}: unknown side {side!r}")
    if size < 0 or price < 0:
        raise TradeDataError(f"Bitmart trade {trade_id}: negative size or price")
    order_id = _id_text(row.get("orderId", ""), "orderId", allow_empty=True)
    return Trade(trade_id, order_id, symbol, side, price, size, notional, create_time)


# The trades table's widths (ids String(40), amounts String(64)): longer is refused here with a
# clear error, not by PostgreSQL at insert time on every poll.
MAX_ID_CHARS = 40
MAX_AMOUNT_CHARS = 64


def _id_text(value: Any, name: str, *, allow_empty: bool = False) -> str:
    # Big integers arrive as strings; an int (from a JSON number) is exact in Python too.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_ID_CHARS:
        return str(value)
    # ASCII only: str.isdigit() also takes "1²", which int() refuses, and "١٢", a second
    # spelling of 12 that would escape deduplication by trade id. At most the column's width.
    if (
        isinstance(value, str)
        and len(value) <= MAX_ID_CHARS
        and ((value.isascii() and value.isdigit()) or (allow_empty and value == ""))
    ):
        return value
    raise TradeDataError(
        f"Bitmart trade has a bad {name} {str(value)[:40]!r}: expected a decimal integer string"
    )


def _decimal(value: Any, name: str, trade_id: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise TradeDataError(
                f"Bitmart trade {trade_id}: {name} {value!r} is not a number"
            ) from None
    else:
        raise TradeDataError(f"Bitmart trade {trade_id}: {name} must be a decimal string")
    if not result.is_finite():
        raise TradeDataError(f"Bitmart trade {trade_id}: {name} is not finite")
    if len(str(result)) > MAX_AMOUNT_CHARS:  # stored as text of at most this many characters
        raise TradeDataError(f"Bitmart trade {trade_id}: {name} has too many digits")
    return result


class BitmartClient:
    """The account-trades client; one per API key."""

    def __init__(
        self,
        http: HttpClientFactory,
        key: BitmartApiKey,
        *,
        base_url: str,
        symbol: str,
        clock: Clock,
        limiter: RateLimiter | None = None,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        if not 1 <= page_limit <= PAGE_LIMIT:
            raise ValueError("page_limit must be between 1 and 200")
        self.http = http
        self.key = key
        self.symbol = symbol
        self.clock = clock
        self.limiter = limiter or RateLimiter(clock)
        self.page_limit = page_limit
        self.base_url = key.endpoint or base_url
        self.provider = http.provider("bitmart", self.base_url, kind="exchange", retries=1)
        self.requests_sent = 0

    async def query_trades(self, start_ms: int, end_ms: int) -> list[Trade]:
        """One signed call for `startTime..endTime` (Bitmart's own bounds), parsed."""
        payload = {
            "symbol": self.symbol,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": self.page_limit,
        }
        data = await self._signed_post(TRADES_PATH, payload)
        if not isinstance(data, list):
            self.provider.report_bad_payload("trades: 'data' is not a list")
            raise BitmartError("Bitmart trades answer has no list of trades")
        return [parse_trade(row) for row in data]

    async def fetch_trades(self, start_ms: int, end_ms: int) -> list[Trade]:
        """Every trade of the symbol with start <= createTime < end, deduplicated and ordered."""
        if end_ms <= start_ms:
            return []
        found: dict[str, Trade] = {}
        windows = [(start_ms, end_ms)]
        while windows:
            lo, hi = windows.pop()
            rows = await self.query_trades(lo - 1, hi)
            if len(rows) >= self.page_limit:
                if hi - lo <= 1:
                    raise BitmartError(
                        f"{len(rows)}+ trades in one millisecond ({lo}): cannot page further"
                    )
                middle = (lo + hi) // 2
                windows.extend([(middle, hi), (lo, middle)])
                continue
            for trade in rows:
                if lo <= trade.create_time_ms < hi and trade.symbol == self.symbol:
                    previous = found.setdefault(trade.trade_id, trade)
                    if previous != trade:
                        raise TradeDataError(
                            f"Bitmart returned trade {trade.trade_id} twice with different data"
                        )
        return sorted(found.values(), key=lambda t: t.sort_key)

    async def fetch_sells(self, start_ms: int, end_ms: int) -> list[Trade]:
        """The sell trades of `[start, end)`; only these turn into issued ndau."""
        return [t for t in await self.fetch_trades(start_ms, end_ms) if t.side == "sell"]

    async def _signed_post(self, path: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload, separators=(",", ":"))
        for attempt in range(MAX_429_RETRIES + 1):
            await self.limiter.acquire()
            timestamp = str(int(self.clock.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "X-BM-KEY": self.key.access,
                "X-BM-TIMESTAMP": timestamp,
                "X-BM-SIGN": self.key.sign(timestamp, body),
            }
            self.requests_sent += 1
            try:
                answer = await call(
                    self.provider, "POST", path, content=body.encode(), headers=headers
                )
            except RateLimitedError as exc:
                pause = exc.retry_after or self.limiter.window_s * (attempt + 1)
                self.limiter.penalize(pause)
                log.warning("Bitmart rate limit hit; backing off %.1fs", pause)
                if attempt == MAX_429_RETRIES:
                    raise BitmartRateLimited(
                        "Bitmart rate limit (HTTP 429) persists after backing off", 30013, 429
                    ) from None
                continue
            except ProviderError as exc:
                raise BitmartError(f"Bitmart unreachable: {exc}", status=exc.status) from None
            return self._unwrap(answer.status, answer.body)
        raise AssertionError("unreachable")

    def _unwrap(self, status: int, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            self.provider.report_bad_payload(f"HTTP {status} answer without a Bitmart code")
            raise BitmartError(f"Bitmart answered HTTP {status} without a code", status=status)
        code = body["code"]
        if code == OK_CODE and status < 300:
            return body.get("data")
        message = str(body.get("message") or "")[:120]
        if code in AUTH_HINTS or status in (401, 403):
            hint = AUTH_HINTS.get(code, "authentication refused")
            text = f"Bitmart refused the request ({code} {message}): {hint}"
            self.provider.report_bad_payload(f"authentication refused ({code})")
            raise BitmartAuthError(text, code, status)
        self.provider.report_bad_payload(f"error code {code}")
        raise BitmartError(f"Bitmart error {code} (HTTP {status}): {message}", code, status)
