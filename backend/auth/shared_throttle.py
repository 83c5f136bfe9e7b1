"""The failed-authentication throttle as one limit across API instances (with `REDIS_URL`).

Failures per address are counted in Redis (a sliding log per address, one Lua script per failure
that counts, blocks when the count reaches `block_after`, and reports a block already in place).
A new block is announced on the internal bus channel `auth.throttle`, which the Redis bridge
carries to every instance, so each refuses the address before verifying any key from it, without
a Redis round trip per request: checks stay local, only failures (the rare path) go to Redis.
While Redis is unavailable each instance counts on its own (`AuthThrottle`), as the rate limiter
does. An instance that starts during a block learns of it at the address's next failure.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from backend.auth.throttle import MAX_ADDRESSES, AuthThrottle
from backend.core.bus import EventBus
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.shared_state import KEY_PREFIX, RedisStore, StoreUnavailable

# Internal bus channel (no service declares it, so no WebSocket client can subscribe to it).
THROTTLE_CHANNEL = "auth.throttle"
BLOCKED = "address.blocked"

# KEYS: the address's failure log (sorted set), its block marker.
# ARGV: now (ms), window (ms), block_after, block (ms), a unique member for this failure.
# Returns {count, block ms}: count -1 = blocked already (ms left); block ms > 0 = blocked now.
_FAILURE_SCRIPT = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return {-1, left} end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[5])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  return {count, tonumber(ARGV[4])}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {count, 0}
"""


class SharedAuthThrottle:
    """Same answers as `AuthThrottle` (delay, block), counted across every instance."""

    def __init__(
        self, store: RedisStore, local: AuthThrottle, bus: EventBus, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self.local = local
        self._bus = bus
        self._clock = clock
        self._script: AsyncScript | None = None
        self._blocks = bus.subscribe({THROTTLE_CHANNEL}, maxsize=10_000, name="auth-throttle")
        self._failed_here: OrderedDict[str, None] = OrderedDict()  # addresses to reset on success
        self.local_failures = 0  # failures counted locally because Redis was unavailable

    def blocked_for(self, address: str) -> float | None:
        """Seconds this address stays blocked (here or by any instance), or None."""
        for event in self._blocks.poll():
            blocked, seconds = event.data.get("address"), event.data.get("seconds")
            if isinstance(blocked, str) and isinstance(seconds, int | float) and seconds > 0:
                self.local.block(blocked, float(seconds), counted=False)
        return self.local.blocked_for(address)

    async def failure(self, address: str) -> float:
        """Count one failed authentication everywhere; how long to delay the answer (s)."""
        policy = self.local.policy
        now_ms = int(self._clock.time() * 1000)
        names = [f"{KEY_PREFIX}authfail:{{{address}}}", f"{KEY_PREFIX}authblock:{{{address}}}"]
        args = [
            now_ms,
            int(policy.window_s * 1000),
            policy.block_after,
            int(policy.block_s * 1000),
            f"{now_ms}-{uuid.uuid4().hex[:8]}",
        ]

        async def call(redis: Redis) -> list[int]:
            if self._script is None:  # EVALSHA, loading the script again after a Redis restart
                self._script = redis.register_script(_FAILURE_SCRIPT)
            return await self._script(keys=names, args=args)  # type: ignore[no-any-return]

        try:
            count, block_ms = (int(value) for value in await self._store.run(call))
        except StoreUnavailable:
            self.local_failures += 1
            return self.local.failure(address)
        self.local.failures_total += 1
        self._failed_here.pop(address, None)
        self._failed_here[address] = None
        while len(self._failed_here) > MAX_ADDRESSES:
            self._failed_here.popitem(last=False)
        if count < 0:  # blocked by another instance before this one heard of it
            self.local.block(address, block_ms / 1000, counted=False)
            return 0.0
        if block_ms > 0:
            self.local.block(address, block_ms / 1000)
            self._bus.publish(
                THROTTLE_CHANNEL, BLOCKED, {"address": address, "seconds": block_ms / 1000}
            )
            return 0.0
        return self.local.delay_for(count)

    async def success(self, address: str) -> None:
        """A good key from this address: forget its failures (a block stays). Only an address
        that failed here costs a Redis call, so the common path stays local."""
        self.local.success(address)
        if address not in self._failed_here:
            return
        del self._failed_here[address]
        name = f"{KEY_PREFIX}authfail:{{{address}}}"
        with contextlib.suppress(StoreUnavailable):
            await self._store.run(lambda redis: redis.delete(name))

    def close(self) -> None:
        self._blocks.close()
