"""TTL cache: expiry on the backend clock and a size bound."""

from __future__ import annotations

import pytest

from backend.core.cache import TTLCache
from backend.core.clock import ManualClock


def test_entries_expire_after_ttl() -> None:
    clock = ManualClock()
    cache: TTLCache[str, int] = TTLCache(ttl=10, clock=clock)
    cache.set("a", 1)
    clock.advance(9.9)
    assert cache.get("a") == 1
    clock.advance(0.2)
    assert cache.get("a") is None and len(cache) == 0


def test_per_entry_ttl_and_delete() -> None:
    clock = ManualClock()
    cache: TTLCache[str, int] = TTLCache(ttl=10, clock=clock)
    cache.set("short", 1, ttl=1)
    cache.set("long", 2)
    clock.advance(2)
    assert cache.get("short") is None and cache.get("long") == 2
    cache.delete("long")
    assert cache.get("long") is None


def test_oldest_entries_leave_first_when_full() -> None:
    cache: TTLCache[int, int] = TTLCache(ttl=60, maxsize=3)
    for i in range(5):
        cache.set(i, i)
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        TTLCache(ttl=0)
