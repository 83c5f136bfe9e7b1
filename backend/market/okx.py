"""OKX `/api/v5/market/ticker?instId=BTC-USDT`.

Wire facts (OKX API v5 docs): every number is a string; the envelope is
`{"code": "0", "msg": "", "data": [ticker]}` and a non-"0" code is an error; there is no change
field, so the 24 h change is derived from `open24h`; for SPOT `vol24h` is in the base currency
(BTC) and `volCcy24h` in the quote currency (USDT); `ts` is epoch ms.
"""

from __future__ import annotations

from typing import Any

from backend.core.http import ProviderClient
from backend.market.models import VenueTicker
from backend.providers.values import PayloadError, num, obj, opt_num, rejected, seconds_from_ms

NAME = "okx"
INSTRUMENT = "BTC-USDT"


def parse_ticker(payload: Any, instrument: str = INSTRUMENT) -> VenueTicker:
    where = "okx ticker"
    data = obj(payload, where)
    if str(data.get("code")) != "0":
        raise PayloadError(f"{where}: error code {data.get('code')!r}: {str(data.get('msg'))[:80]}")
    rows = data.get("data")
    if not isinstance(rows, list) or not rows:
        raise PayloadError(f"{where}: 'data' is empty")
    row = next((r for r in rows if isinstance(r, dict) and r.get("instId") == instrument), None)
    if row is None:
        raise PayloadError(f"{where}: no ticker for {instrument}")
    last = num(row, "last", where)
    open_24h = opt_num(row, "open24h", where)
    change = (last - open_24h) / open_24h * 100 if open_24h else None
    return VenueTicker(
        venue=NAME,
        instrument=instrument,
        quote=instrument.split("-")[1],
        price=last,
        change_24h_pct=change,
        volume_24h_btc=opt_num(row, "vol24h", where),
        volume_24h_quote=opt_num(row, "volCcy24h", where),
        bid=opt_num(row, "bidPx", where),
        ask=opt_num(row, "askPx", where),
        as_of=seconds_from_ms(num(row, "ts", where), f"{where}.ts"),
    )


async def fetch(provider: ProviderClient) -> VenueTicker:
    payload = await provider.get_json("/api/v5/market/ticker", params={"instId": INSTRUMENT})
    try:
        return parse_ticker(payload)
    except PayloadError as exc:
        raise rejected(provider, str(exc)) from None
