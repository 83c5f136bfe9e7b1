"""Bybit `/v5/market/tickers?category=spot&symbol=BTCUSDT`.

Wire facts (Bybit V5 docs): numbers are strings; `price24hPcnt` is a FRACTION (0.0068 = +0.68 %);
the envelope is `{"retCode": 0, "retMsg": "OK", "result": {"category", "list": [...]}, "time": ms}`.
Volume units depend on the category: for spot and linear `volume24h` is the base coin (BTC) and
`turnover24h` the quote (USDT); for inverse contracts it is the other way round (`volume24h` in USD
contracts, `turnover24h` in BTC).
"""

from __future__ import annotations

from typing import Any

from backend.core.http import ProviderClient
from backend.market.models import VenueTicker
from backend.providers.values import PayloadError, num, obj, opt_num, rejected, seconds_from_ms

NAME = "bybit"
CATEGORY = "spot"
SYMBOL = "BTCUSDT"


def parse_ticker(payload: Any, symbol: str = SYMBOL) -> VenueTicker:
    where = "bybit tickers"
    data = obj(payload, where)
    if data.get("retCode") != 0:
        raise PayloadError(f"{where}: retCode {data.get('retCode')!r}: {data.get('retMsg')!s:.80}")
    result = obj(data.get("result"), f"{where}.result")
    category = result.get("category")
    rows = result.get("list")
    if not isinstance(rows, list):
        raise PayloadError(f"{where}: 'result.list' is not a list")
    row = next((r for r in rows if isinstance(r, dict) and r.get("symbol") == symbol), None)
    if row is None:
        raise PayloadError(f"{where}: no ticker for {symbol}")
    fraction = opt_num(row, "price24hPcnt", where)
    volume = opt_num(row, "volume24h", where)
    turnover = opt_num(row, "turnover24h", where)
    if category == "inverse":
        volume_btc, volume_quote, quote = turnover, volume, "USD"
    elif category in ("spot", "linear"):
        volume_btc, volume_quote, quote = volume, turnover, symbol.removeprefix("BTC") or "?"
    else:
        raise PayloadError(f"{where}: unsupported category {category!r}")
    return VenueTicker(
        venue=NAME,
        instrument=f"{symbol} ({category})",
        quote=quote,
        price=num(row, "lastPrice", where),
        change_24h_pct=fraction * 100 if fraction is not None else None,
        volume_24h_btc=volume_btc,
        volume_24h_quote=volume_quote,
        bid=opt_num(row, "bid1Price", where),
        ask=opt_num(row, "ask1Price", where),
        as_of=seconds_from_ms(num(data, "time", where), f"{where}.time"),
    )


async def fetch(provider: ProviderClient) -> VenueTicker:
    params = {"category": CATEGORY, "symbol": SYMBOL}
    payload = await provider.get_json("/v5/market/tickers", params=params)
    try:
        return parse_ticker(payload)
    except PayloadError as exc:
        raise rejected(provider, str(exc)) from None
