"""State several backend processes must agree on: counters and last good values, kept in this
process or, with `REDIS_URL`, in Redis.

Without Redis nothing changes: callers keep using their in-process structures. With it,
`RedisStore` is the one guarded way to call Redis: every call is bounded by a timeout, and after a
failure the store counts as down for `retry_s`, during which calls fail at once with
`StoreUnavailable` so callers use their local fallback without paying a timeout per request. The
health view shows the outage (one item per store) and the log says when it starts and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.core.cache import TTLCache
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.health import HealthRegistry
from backend.core.untrusted import UntrustedInputError, loads

log = logging.getLogger("hashinsight.shared")

T = TypeVar("T")
KEY_PREFIX = "hashinsight:"
MAX_VALUE_BYTES = 16 << 20  # cached provider answers; anything larger is not ours
CALL_TIMEOUT_S = 1.0
RETRY_AFTER_FAILURE_S = 5.0
SUCCESS_REPORT_S = 30.0  # a healthy store reports at most this often (each report is a bus event)


class StoreUnavailable(Exception):
    """Redis is down or too slow: the caller uses its local fallback."""


class RedisStore:
    """One Redis connection pool with bounded calls, a short back-off after a failure, and
    health reporting under `name`."""

    def __init__(
        self,
        url: str,
        health: HealthRegistry | None,
        name: str,
        *,
        timeout_s: float = CALL_TIMEOUT_S,
        retry_s: float = RETRY_AFTER_FAILURE_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.failures = 0
        self._clock = clock
        self._health = health
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._down_until: float | None = None
        self._last_report = -1e18
        if health is not None:
            health.register(name, "cache", redact_url(url))

    @property
    def up(self) -> bool:
        """False while the store is backing off after a failure."""
        return self._down_until is None

    async def run(self, call: Callable[[Redis], Awaitable[T]], *, force: bool = False) -> T:
        """Run one Redis call within the timeout; `StoreUnavailable` when down or failing.
        `force` tries even during the back-off (health checks)."""
        now = self._clock.monotonic()
        if not force and self._down_until is not None and now < self._down_until:
            raise StoreUnavailable(self.name)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await call(self._redis)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            raise StoreUnavailable(self.name) from None
        self._succeeded((time.perf_counter() - started) * 1000)
        return result

    async def ping(self) -> bool:
        """A health check that also ends a back-off early when Redis is back."""
        try:
            await self.run(lambda redis: redis.ping(), force=True)
        except StoreUnavailable:
            return False
        return True

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._redis.aclose(), self.timeout_s)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._down_until is None:
            log.warning(
                "%s: Redis unavailable (%s); using local state for now", self.name, _kind(exc)
            )
        self._down_until = self._clock.monotonic() + self.retry_s
        if self._health is not None:
            self._health.failure(self.name, f"{_kind(exc)}; local fallback in use")
            self._last_report = self._clock.monotonic()

    def _succeeded(self, latency_ms: float) -> None:
        recovered = self._down_until is not None
        self._down_until = None
        if recovered:
            log.warning("%s: Redis reachable again; shared state resumed", self.name)
        now = self._clock.monotonic()
        if self._health is not None and (recovered or now - self._last_report >= SUCCESS_REPORT_S):
            self._health.success(self.name, latency_ms)
            self._last_report = now


class SharedCache(Protocol):
    """Last good values (JSON-able) that every process may read, with a TTL."""

    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, ttl_s: float) -> None: ...


class MemorySharedCache:
    """The in-process cache: what one process knows, nothing more."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, maxsize: int = 10_000) -> None:
        self._items: TTLCache[str, Any] = TTLCache(3600.0, maxsize, clock)

    async def get(self, key: str) -> Any | None:
        return self._items.get(key)

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        self._items.set(key, value, ttl_s)


class RedisSharedCache:
    """Values in Redis as JSON with a TTL, mirrored locally so a Redis outage still leaves this
    process's own last values."""

    def __init__(self, store: RedisStore, namespace: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._store = store
        self._prefix = f"{KEY_PREFIX}cache:{namespace}:"
        self._local = MemorySharedCache(clock)

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self._store.run(lambda redis: redis.get(self._prefix + key))
        except StoreUnavailable:
            return await self._local.get(key)
        if raw is None:
            return None
        try:
            return loads(raw, max_bytes=MAX_VALUE_BYTES, what="cached value")
        except UntrustedInputError:
            log.warning("ignored a malformed cached value for %s", key)
            return None

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        await self._local.set(key, value, ttl_s)
        payload = json.dumps(value, separators=(",", ":"))
        milliseconds = max(1, int(ttl_s * 1000))
        name = self._prefix + key
        with contextlib.suppress(StoreUnavailable):
            await self._store.run(lambda redis: redis.set(name, payload, px=milliseconds))


def open_shared_cache(
    redis_url: str | None, health: HealthRegistry, namespace: str, clock: Clock = SYSTEM_CLOCK
) -> tuple[RedisSharedCache, RedisStore] | None:
    """A service's shared cache in Redis (health item `redis-cache-<namespace>`), or None without
    `REDIS_URL`: the service then keeps its in-process values only. The caller closes the store."""
    if not redis_url:
        return None
    store = RedisStore(redis_url, health, f"redis-cache-{namespace}", clock=clock)
    return RedisSharedCache(store, namespace, clock), store


def redact_url(url: str) -> str:
    """A Redis/PostgreSQL URL without its credentials, for health and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
    return url


def _kind(exc: BaseException) -> str:
    # The type only: a Redis error message may echo a command argument.
    return "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
