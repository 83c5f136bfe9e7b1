"""Price from mempool.space `/v1/prices` (third in the price fallback chain).

The answer is `{"time": epoch s, "USD": ..., "EUR": ...}`: a price only, no change or volume.
"""

from __future__ import annotations

from typing import Any

from backend.core.clock import Clock
from backend.core.http import ProviderClient
from backend.market.models import PriceQuote
from backend.providers.values import PayloadError, num, obj, rejected, seconds_epoch

NAME = "mempool"


def parse_prices(payload: Any, now: float) -> tuple[PriceQuote, float]:
    where = "mempool prices"
    data = obj(payload, where)
    as_of = seconds_epoch(num(data, "time", where), f"{where}.time")
    quote = PriceQuote(price_usd=num(data, "USD", where), change_24h_pct=None, volume_24h_usd=None)
    return quote, min(as_of, now)


class MempoolPriceClient:
    """mempool.space for its price endpoint only (the chain has its own client for the rest)."""

    def __init__(self, provider: ProviderClient, clock: Clock) -> None:
        self.provider = provider
        self.clock = clock

    async def prices(self) -> Any:
        return await self.provider.get_json("/v1/prices")


async def current_price(client: MempoolPriceClient) -> tuple[PriceQuote, float]:
    payload = await client.prices()
    try:
        return parse_prices(payload, client.clock.time())
    except PayloadError as exc:
        raise rejected(client.provider, str(exc)) from None
