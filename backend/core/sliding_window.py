"""Sliding-window rate limits in memory, per key, driven by the backend clock.

The one in-process "at most N in any W seconds" of the backend: the wallet's sign-in limits (per
IP, per address) and the pacing of our own calls to rate-limited APIs (IP-API, Bitmart).
"""

from __future__ import annotations

from collections import deque

from backend.core.clock import SYSTEM_CLOCK, Clock

MAX_KEYS = 100_000


class SlidingWindow:
    """At most `limit` hits per `window_s` for each key; `hit` says how long to wait if not."""

    def __init__(self, limit: int, window_s: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may hit again, or None if it may now (counts nothing)."""
        now = self._clock.monotonic()
        hits = self._prune(key, now)
        if len(hits) < self.limit:
            return None
        return max(0.01, hits[0] + self.window_s - now)

    def hit(self, key: str) -> float | None:
        """Count one hit; None if allowed, else seconds to wait (the hit is then not counted)."""
        wait = self.retry_after(key)
        if wait is not None:
            return wait
        if len(self._hits) > MAX_KEYS:
            self._evict()
        self._hits[key].append(self._clock.monotonic())
        return None

    def _evict(self) -> None:
        now = self._clock.monotonic()
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
            del self._hits[key]
