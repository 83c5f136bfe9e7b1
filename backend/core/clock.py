"""One clock for the whole backend, so tests can move time instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall time for records, monotonic time for intervals and TTLs."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that only moves when told to; for tests of TTLs, backoff and leases."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall, UTC)

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds


SYSTEM_CLOCK = Clock()
