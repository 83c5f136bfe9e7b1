"""A small TTL cache, bounded in size, driven by the backend clock."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from backend.core.clock import SYSTEM_CLOCK, Clock

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Entries expire `ttl` seconds after they are set; the least recently set go first when
    full."""

    def __init__(self, ttl: float, maxsize: int = 10_000, clock: Clock = SYSTEM_CLOCK) -> None:
        if ttl <= 0 or maxsize <= 0:
            raise ValueError("ttl and maxsize must be positive")
        self.ttl = ttl
        self.maxsize = maxsize
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock.monotonic():
            del self._items[key]
            return None
        return value

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        self._items.pop(key, None)
        self._items[key] = (self._clock.monotonic() + (ttl or self.ttl), value)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def delete(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
