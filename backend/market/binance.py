"""Binance `/api/v3/ticker/24hr?symbol=BTCUSDT`.

Wire facts (Binance Spot API docs): numbers are strings; `priceChangePercent` is a percent;
`volume` is the base asset (BTC), `quoteVolume` the quote asset (USDT); `closeTime` is epoch ms.
Errors come as `{"code": -1121, "msg": "..."}` with a 4xx status.
"""

from __future__ import annotations

from typing import Any

from backend.core.http import ProviderClient
from backend.market.models import VenueTicker
from backend.providers.values import PayloadError, num, obj, opt_num, rejected, seconds_from_ms

NAME = "binance"
SYMBOL = "BTCUSDT"
QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "USD")


def parse_ticker(payload: Any, symbol: str = SYMBOL) -> VenueTicker:
    where = "binance ticker/24hr"
    row = obj(payload, where)
    if row.get("symbol") != symbol:
        raise PayloadError(f"{where}: answer is for {row.get('symbol')!r}, not {symbol}")
    quote = next((q for q in QUOTES if symbol.endswith(q)), "?")
    return VenueTicker(
        venue=NAME,
        instrument=symbol,
        quote=quote,
        price=num(row, "lastPrice", where),
        change_24h_pct=opt_num(row, "priceChangePercent", where),
        volume_24h_btc=opt_num(row, "volume", where),
        volume_24h_quote=opt_num(row, "quoteVolume", where),
        bid=opt_num(row, "bidPrice", where),
        ask=opt_num(row, "askPrice", where),
        as_of=seconds_from_ms(num(row, "closeTime", where), f"{where}.closeTime"),
    )


async def fetch(provider: ProviderClient) -> VenueTicker:
    payload = await provider.get_json("/api/v3/ticker/24hr", params={"symbol": SYMBOL})
    try:
        return parse_ticker(payload)
    except PayloadError as exc:
        raise rejected(provider, str(exc)) from None
