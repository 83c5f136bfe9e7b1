"""The `api_access` service: rate limits per key, failed-auth throttling per address, usage counts.

The API's dependencies and middleware reach it through `services_by_name["api_access"]`; when it is
not running, requests are neither limited nor counted (the API still authenticates every call).
With `REDIS_URL` the rate-limit counters, the failed-auth throttle and the open WebSocket
connections per key live in Redis (one limit across every API instance), checked with the health
loop; while Redis is unavailable each is counted locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from backend.auth.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Window,
)
from backend.auth.service import KeyInfo
from backend.auth.shared_throttle import SharedAuthThrottle
from backend.auth.throttle import AuthThrottle, ThrottlePolicy
from backend.auth.tiers import Tier, tier_for
from backend.auth.usage import UsageRecorder
from backend.auth.ws_slots import REFRESH_S, ConnectionSlots, SharedConnectionSlots, Slot
from backend.core.service import ServiceContext
from backend.core.shared_state import RedisStore

log = logging.getLogger("hashinsight.auth")

HEALTH_NAME = "api-auth"
HEALTH_TICK_S = 1.0
REDIS_HEALTH_NAME = "redis-limits"


class ApiAccessService:
    name: ClassVar[str] = "api_access"
    channels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: ServiceContext, limiter: RateLimiter | None = None) -> None:
        self.context = context
        self.settings = context.settings
        self.store: RedisStore | None = None
        if limiter is None and self.settings.redis_url:
            self.store = RedisStore(self.settings.redis_url, context.health, REDIS_HEALTH_NAME)
            limiter = RedisRateLimiter(self.store, MemoryRateLimiter(context.clock), context.clock)
        self.limiter: RateLimiter = limiter or MemoryRateLimiter(context.clock)
        self.throttle = AuthThrottle(
            ThrottlePolicy(
                window_s=self.settings.auth_fail_window_s,
                slow_after=self.settings.auth_fail_slow_after,
                block_after=self.settings.auth_fail_block_after,
                block_s=self.settings.auth_block_s,
                slow_max_s=self.settings.auth_slow_max_s,
            ),
            context.clock,
        )
        self.shared_throttle: SharedAuthThrottle | None = None
        self.ws_slots: ConnectionSlots | SharedConnectionSlots = ConnectionSlots()
        if self.store is not None:
            self.shared_throttle = SharedAuthThrottle(
                self.store, self.throttle, context.bus, context.clock
            )
            self.ws_slots = SharedConnectionSlots(self.store, context.clock)
        self.usage = UsageRecorder(context.db, context.clock)
        self._task: asyncio.Task[None] | None = None
        self._health_dirty = True
        context.health.register(HEALTH_NAME, "security", "failed-authentication throttle", "ok")

    def tier(self, key: KeyInfo) -> Tier:
        return tier_for(key.tier, self.settings)

    def windows(self, key: KeyInfo) -> tuple[Window, ...]:
        tier = self.tier(key)
        return (Window("minute", tier.per_minute, 60), Window("hour", tier.per_hour, 3600))

    async def check(self, key: KeyInfo) -> Decision | None:
        """Count one request of this key; None when rate limiting is off."""
        if not self.settings.ratelimit_enabled:
            return None
        return await self.limiter.hit(key.key_id, self.windows(key))

    def blocked_for(self, address: str) -> float | None:
        """Seconds this address stays blocked after failed authentications, or None."""
        if self.shared_throttle is not None:
            return self.shared_throttle.blocked_for(address)
        return self.throttle.blocked_for(address)

    async def auth_failed(self, address: str) -> float:
        """Count a failed authentication; how long to delay the answer (seconds)."""
        if self.shared_throttle is not None:
            delay = await self.shared_throttle.failure(address)
        else:
            delay = self.throttle.failure(address)
        self._health_dirty = True
        if self.throttle.blocked_for(address) is not None:
            log.warning("address %s blocked after repeated failed authentications", address)
            self.report_health()
        return delay

    async def auth_succeeded(self, address: str) -> None:
        if self.shared_throttle is not None:
            await self.shared_throttle.success(address)
        else:
            self.throttle.success(address)

    async def open_connection(self, key: KeyInfo) -> Slot | None:
        """A place for one more WebSocket connection of this key, or None at its tier's limit
        (counted across instances with Redis)."""
        return await self.ws_slots.acquire(key.key_id, self.tier(key).ws_connections)

    async def close_connection(self, slot: Slot) -> None:
        await self.ws_slots.release(slot)

    def report_health(self) -> None:
        stats = self.throttle.stats()
        item = self.context.health.get(HEALTH_NAME)
        if item is None:
            return
        item.failures = stats["failures"]
        detail = (
            f"{stats['failures']} failed authentications · {stats['slowed_addresses']} addresses "
            f"slowed · {stats['blocked_addresses']} blocked now ({stats['blocks']} blocks)"
        )
        status = "degraded" if stats["blocked_addresses"] else "ok"
        self.context.health.set_status(HEALTH_NAME, status, detail)
        self._health_dirty = False

    async def start(self) -> None:
        self.report_health()
        if self.store is not None:
            await self.store.ping()
        self._task = asyncio.create_task(self._loop(), name="api-access")

    async def _loop(self) -> None:
        clock = self.context.clock
        next_flush = clock.monotonic() + self.settings.key_usage_flush_s
        next_ping = clock.monotonic() + self.settings.health_check_interval_s
        next_slots = clock.monotonic() + REFRESH_S
        while True:
            await asyncio.sleep(min(HEALTH_TICK_S, self.settings.key_usage_flush_s))
            if self._health_dirty:
                self.report_health()
            if self.store is not None and clock.monotonic() >= next_ping:
                next_ping = clock.monotonic() + self.settings.health_check_interval_s
                await self.store.ping()
            if clock.monotonic() >= next_slots:
                next_slots = clock.monotonic() + REFRESH_S
                await self.ws_slots.refresh()
            if self.context.clock.monotonic() >= next_flush:
                next_flush = self.context.clock.monotonic() + self.settings.key_usage_flush_s
                try:
                    await self.usage.flush()
                except Exception as exc:  # a failed flush keeps its counts for the next one
                    log.warning("key usage flush failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.usage.flush()
        if self.shared_throttle is not None:
            self.shared_throttle.close()
        if self.store is not None:
            await self.store.close()
