"""Prices and exchanges, and the Bitcoin network's stats, blocks and hashrate."""

from __future__ import annotations

from hashinsight_contract.market import ExchangesOut, PriceCurrent, PriceHistory
from hashinsight_contract.network import BlocksOut, HashrateHistory, NetworkStats
from hashinsight_tui.sdk.transport import ApiTransport


class MarketCalls(ApiTransport):
    async def price_current(self) -> PriceCurrent:
        return await self._get(PriceCurrent, "GET", "/api/v1/prices/current")

    async def price_history(self, period: str = "1d") -> PriceHistory:
        params = {"period": period}
        return await self._get(PriceHistory, "GET", "/api/v1/prices/history", params=params)

    async def exchanges(self) -> ExchangesOut:
        return await self._get(ExchangesOut, "GET", "/api/v1/exchanges")

    async def network_stats(self) -> NetworkStats:
        return await self._get(NetworkStats, "GET", "/api/v1/network/stats")

    async def network_blocks(self) -> BlocksOut:
        return await self._get(BlocksOut, "GET", "/api/v1/network/blocks")

    async def hashrate_history(self, period: str = "1m") -> HashrateHistory:
        params = {"period": period}
        return await self._get(HashrateHistory, "GET", "/api/v1/network/hashrate", params=params)
