"""A provider's history per period: cached, fetched once at a time, never simply missing.

Why one class: price history (CoinGecko) and hashrate history (mempool.space) follow the same
rules. A copy younger than `ttl_s` is served as is; concurrent callers share one fetch; when the
provider fails, the last good copy is served as cache, else our own recorded samples, else the
caller's "unavailable" error says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from backend.core.clock import Clock
from backend.core.http import ProviderError
from backend.providers.values import Reading, Via

P = TypeVar("P")
Fetch = Callable[[str], Awaitable[Reading[list[P]]]]
Recorded = Callable[[str], Awaitable[Reading[list[P]] | None]]


class HistoryCache(Generic[P]):
    def __init__(
        self,
        periods: Iterable[str],
        clock: Clock,
        ttl_s: float,
        *,
        fetch: Fetch[P],
        recorded: Recorded[P],
        unavailable: Callable[[str], Exception],
    ) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._fetch = fetch
        self._recorded = recorded
        self._unavailable = unavailable
        self._copies: dict[str, tuple[float, Reading[list[P]]]] = {}
        self._locks = {period: asyncio.Lock() for period in periods}

    async def get(self, period: str) -> tuple[Reading[list[P]], Via, str | None]:
        """(reading, how it is held, the provider's error if it failed)."""
        if not self._fresh(period):
            async with self._locks[period]:  # concurrent callers share one fetch
                if not self._fresh(period):
                    return await self._refresh(period)
        return self._copies[period][1], "live", None

    def _fresh(self, period: str) -> bool:
        copy = self._copies.get(period)
        return copy is not None and self.clock.monotonic() - copy[0] < self.ttl_s

    async def _refresh(self, period: str) -> tuple[Reading[list[P]], Via, str | None]:
        try:
            reading = await self._fetch(period)
        except ProviderError as exc:
            copy = self._copies.get(period)
            if copy is not None:
                return copy[1], "cache", str(exc)
            recorded = await self._recorded(period)
            if recorded is None:
                raise self._unavailable(str(exc)) from None
            return recorded, "cache", str(exc)
        self._copies[period] = (self.clock.monotonic(), reading)
        return reading, "live", None
