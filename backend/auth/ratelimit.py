"""Per-key rate limits: fixed windows (per minute, per hour) behind a small async interface.

`MemoryRateLimiter` keeps the counters in this process. `RedisRateLimiter` keeps them in Redis so
one limit holds across every API instance: one Lua script checks every window of a key and counts
the hit in all of them or in none, atomically. When Redis is unavailable it counts locally (each
instance then enforces the limit on its own share) and the health view says so.
Windows are aligned on the epoch, so every client sees the same reset instants and the
`X-RateLimit-Reset` value is exact (instances need synchronised clocks, as NTP gives).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.shared_state import KEY_PREFIX, RedisStore, StoreUnavailable


@dataclass(frozen=True, slots=True)
class Window:
    """One quota policy: at most `limit` requests per `seconds`."""

    name: str
    limit: int
    seconds: int


@dataclass(frozen=True, slots=True)
class WindowState:
    window: Window
    used: int
    reset_at: float  # epoch seconds when this window starts afresh

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit - self.used)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit, with everything the response headers need."""

    allowed: bool
    states: tuple[WindowState, ...]
    now: float

    @property
    def binding(self) -> WindowState:
        """The window closest to exhaustion (the one the client must watch)."""
        return min(self.states, key=lambda s: (s.remaining, -s.reset_at))

    @property
    def retry_after(self) -> int:
        exhausted = [s for s in self.states if s.remaining <= 0]
        if not exhausted:
            return 0
        return max(1, math.ceil(max(s.reset_at for s in exhausted) - self.now))

    def headers(self) -> list[tuple[str, str]]:
        """X-RateLimit-* (reset as epoch seconds) and the IETF RateLimit/RateLimit-Policy."""
        if not self.states:
            return []
        binding = self.binding
        reset_in = max(0, math.ceil(binding.reset_at - self.now))
        policy = ", ".join(
            f'"{s.window.name}";q={s.window.limit};w={s.window.seconds}' for s in self.states
        )
        headers = [
            ("X-RateLimit-Limit", str(binding.window.limit)),
            ("X-RateLimit-Remaining", str(binding.remaining)),
            ("X-RateLimit-Reset", str(math.ceil(binding.reset_at))),
            ("RateLimit-Policy", policy),
            ("RateLimit", f'"{binding.window.name}";r={binding.remaining};t={reset_in}'),
        ]
        if not self.allowed:
            headers.append(("Retry-After", str(self.retry_after)))
        return headers


class RateLimiter(Protocol):
    async def hit(self, key: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        """Count `cost` against every window of `key`, unless one would overflow (then count
        nothing and deny)."""
        ...


class MemoryRateLimiter:
    """Fixed-window counters in memory: O(1) per hit, bounded by the number of keys."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._counters: dict[tuple[str, str], tuple[float, int]] = {}

    async def hit(self, key: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        now = self._clock.time()
        current: list[tuple[Window, float, int]] = []
        for window in windows:
            start = math.floor(now / window.seconds) * window.seconds
            stored = self._counters.get((key, window.name))
            used = stored[1] if stored is not None and stored[0] == start else 0
            current.append((window, start, used))
        allowed = all(used + cost <= window.limit for window, _start, used in current)
        states = []
        for window, start, used in current:
            if allowed:
                used += cost
                self._counters[(key, window.name)] = (start, used)
            states.append(WindowState(window, used, start + window.seconds))
        return Decision(allowed, tuple(states), now)

    def reset(self, key: str | None = None) -> None:
        if key is None:
            self._counters.clear()
        else:
            for name in [k for k in self._counters if k[0] == key]:
                del self._counters[name]


# KEYS: one counter per window. ARGV: cost, then limit and ttl (s) of each window.
# Returns {allowed (0/1), used per window...}; a denied hit counts nothing.
_HIT_SCRIPT = """
local cost = tonumber(ARGV[1])
local result = {1}
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  result[i + 1] = used
  if used + cost > tonumber(ARGV[2 * i]) then result[1] = 0 end
end
if result[1] == 1 then
  for i, key in ipairs(KEYS) do
    result[i + 1] = redis.call('INCRBY', key, cost)
    if result[i + 1] == cost then redis.call('EXPIRE', key, tonumber(ARGV[2 * i + 1])) end
  end
end
return result
"""


class RedisRateLimiter:
    """Fixed-window counters in Redis (`<prefix>rl:{key}:<window>:<start>`), shared by every
    instance; one round trip per hit. Falls back to `fallback` while Redis is unavailable."""

    def __init__(
        self, store: RedisStore, fallback: MemoryRateLimiter, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._clock = clock
        self.local_hits = 0  # hits counted locally because Redis was unavailable
        self._script: AsyncScript | None = None

    async def hit(self, key: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        now = self._clock.time()
        starts = [math.floor(now / w.seconds) * w.seconds for w in windows]
        names = [
            f"{KEY_PREFIX}rl:{{{key}}}:{w.name}:{start}"
            for w, start in zip(windows, starts, strict=True)
        ]
        args: list[int] = [cost]
        for window in windows:
            args += [window.limit, window.seconds + 1]

        async def call(redis: Redis) -> list[int]:
            if self._script is None:  # EVALSHA, loading the script again after a Redis restart
                self._script = redis.register_script(_HIT_SCRIPT)
            return await self._script(keys=names, args=args)  # type: ignore[no-any-return]

        try:
            reply = await self._store.run(call)
        except StoreUnavailable:
            self.local_hits += 1
            return await self._fallback.hit(key, windows, cost)
        allowed = bool(int(reply[0]))
        states = tuple(
            WindowState(w, int(used), start + w.seconds)
            for w, start, used in zip(windows, starts, reply[1:], strict=True)
        )
        return Decision(allowed, states, now)
