"""Price from blockchain.info `/stats` (second in the price fallback chain).

`market_price_usd` is USD, `trade_volume_usd` the 24 h exchange volume in USD, `timestamp` epoch
ms; `/stats` has no 24 h change, so the quote carries none (shown as unknown, never as 0 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.market.models import PriceQuote
from backend.providers.blockchain_info import BlockchainInfoStats, stats_time
from backend.providers.values import PayloadError, num, opt_num, rejected


def parse_price(stats: Mapping[str, Any]) -> PriceQuote:
    where = "blockchain.info stats"
    return PriceQuote(
        price_usd=num(stats, "market_price_usd", where),
        change_24h_pct=None,
        volume_24h_usd=opt_num(stats, "trade_volume_usd", where),
    )


async def current_price(client: BlockchainInfoStats) -> tuple[PriceQuote, float]:
    stats = await client.stats()
    try:
        return parse_price(stats), stats_time(stats, client.clock.time())
    except PayloadError as exc:
        raise rejected(client.provider, str(exc)) from None
