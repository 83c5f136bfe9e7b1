"""CoinGecko: `/simple/price` for the current price, `/coins/bitcoin/market_chart` for history.

Wire facts (CoinGecko API docs): `usd_24h_change` is a percent and may be null; `usd_24h_vol` is
USD; `last_updated_at` is epoch seconds; market_chart `prices` are `[epoch ms, usd]` pairs. The
free/demo tier allows about 50 calls a minute and answers 429 with `Retry-After` beyond it; the
optional demo key goes in the `x-cg-demo-api-key` header.
"""

from __future__ import annotations

from typing import Any

from backend.core.clock import Clock
from backend.core.http import ProviderClient
from backend.market.models import PricePoint, PriceQuote
from backend.providers.values import (
    PayloadError,
    num,
    obj,
    opt_num,
    rejected,
    seconds_epoch,
    seconds_from_ms,
)

NAME = "coingecko"
API_KEY_HEADER = "x-cg-demo-api-key"
SIMPLE_PRICE_PARAMS = {
    "ids": "bitcoin",
    "vs_currencies": "usd",
    "include_24hr_vol": "true",
    "include_24hr_change": "true",
    "include_market_cap": "true",
    "include_last_updated_at": "true",
}
PERIOD_DAYS = {"1d": 1, "7d": 7, "30d": 30}


def parse_simple_price(payload: Any, now: float) -> tuple[PriceQuote, float]:
    where = "coingecko simple/price"
    coin = obj(obj(payload, where).get("bitcoin"), f"{where}.bitcoin")
    price = num(coin, "usd", where)
    updated = opt_num(coin, "last_updated_at", where)
    as_of = seconds_epoch(updated, f"{where}.last_updated_at") if updated else now
    quote = PriceQuote(
        price_usd=price,
        change_24h_pct=opt_num(coin, "usd_24h_change", where),
        volume_24h_usd=opt_num(coin, "usd_24h_vol", where),
        market_cap_usd=opt_num(coin, "usd_market_cap", where),
    )
    return quote, min(as_of, now)


def parse_market_chart(payload: Any) -> list[PricePoint]:
    where = "coingecko market_chart"
    prices = obj(payload, where).get("prices")
    if not isinstance(prices, list):
        raise PayloadError(f"{where}: 'prices' is not a list")
    points: list[PricePoint] = []
    for index, pair in enumerate(prices):
        if not isinstance(pair, list) or len(pair) != 2:
            raise PayloadError(f"{where}: prices[{index}] is not a [time, price] pair")
        row = {"t": pair[0], "p": pair[1]}
        t = seconds_from_ms(num(row, "t", f"{where}.prices[{index}]"), f"{where}.prices[{index}]")
        price = num(row, "p", f"{where}.prices[{index}]")
        if price <= 0:
            raise PayloadError(f"{where}: prices[{index}] is not positive")
        points.append(PricePoint(t, price))
    points.sort(key=lambda p: p.t)
    return points


class CoinGeckoClient:
    def __init__(self, provider: ProviderClient, clock: Clock) -> None:
        self.provider = provider
        self.clock = clock

    async def current(self) -> tuple[PriceQuote, float]:
        payload = await self.provider.get_json("/simple/price", params=SIMPLE_PRICE_PARAMS)
        try:
            return parse_simple_price(payload, self.clock.time())
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def history(self, period: str) -> list[PricePoint]:
        days = PERIOD_DAYS[period]
        payload = await self.provider.get_json(
            "/coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": str(days)}
        )
        try:
            return parse_market_chart(payload)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
