"""blockchain.info's `/stats?format=json`: the one answer both the market (price) and the chain
(network, fees, next adjustment) read.

Wire facts (blockchain.com Charts & Statistics API): `timestamp` is epoch milliseconds; the other
fields are read where they are used (`backend.market.blockchain_info`,
`backend.chain.blockchain_info`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.core.clock import Clock
from backend.core.http import ProviderClient
from backend.providers.values import PayloadError, num, obj, rejected, seconds_from_ms

NAME = "blockchain_info"


def stats_time(stats: Mapping[str, Any], now: float) -> float:
    where = "blockchain.info stats"
    return min(seconds_from_ms(num(stats, "timestamp", where), f"{where}.timestamp"), now)


class BlockchainInfoStats:
    """One `/stats` answer is reused for `reuse_s`, so the several readings of one poll cost one
    call."""

    def __init__(self, provider: ProviderClient, clock: Clock, reuse_s: float = 5.0) -> None:
        self.provider = provider
        self.clock = clock
        self.reuse_s = reuse_s
        self._stats: tuple[float, Mapping[str, Any]] | None = None

    async def stats(self) -> Mapping[str, Any]:
        now = self.clock.monotonic()
        if self._stats is not None and now - self._stats[0] < self.reuse_s:
            return self._stats[1]
        payload = await self.provider.get_json("/stats", params={"format": "json"})
        try:
            stats = obj(payload, "blockchain.info stats")
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
        self._stats = (now, stats)
        return stats
