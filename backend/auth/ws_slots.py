"""Open WebSocket connections per key: a tier allows so many, counted here or across instances.

`ConnectionSlots` counts this process's connections. With `REDIS_URL`, `SharedConnectionSlots`
keeps one sorted set per key in Redis: each member is one open connection, scored by when it
stops counting. Each instance re-asserts its own connections every `REFRESH_S`, so those of a
crashed instance stop counting after `SLOT_TTL_S` instead of holding the key's slots for ever.
Taking a slot is one Lua script (drop expired members, refuse at the limit, add), so two instances
cannot both take the last slot. While Redis is unavailable the limit holds per instance.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.shared_state import KEY_PREFIX, RedisStore, StoreUnavailable

SLOT_TTL_S = 30.0
REFRESH_S = 10.0

# KEYS: the key's slots (sorted set). ARGV: now (ms), expiry (ms), limit, member, key TTL (ms).
_ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class Slot:
    """One open connection's place in its key's limit."""

    key_id: str
    id: str
    shared: bool = False  # counted in Redis (else in this process only)


class ConnectionSlots:
    """This process's open connections per key."""

    def __init__(self) -> None:
        self.held: dict[str, set[Slot]] = {}

    async def acquire(self, key_id: str, limit: int) -> Slot | None:
        """Record a connection unless `limit` (counted here) is reached; None when refused."""
        if len(self.held.get(key_id, ())) >= limit:
            return None
        slot = Slot(key_id, uuid.uuid4().hex)
        self.add(slot)
        return slot

    def add(self, slot: Slot) -> None:
        self.held.setdefault(slot.key_id, set()).add(slot)

    async def release(self, slot: Slot) -> None:
        self.forget(slot)

    def forget(self, slot: Slot) -> None:
        held = self.held.get(slot.key_id)
        if held is not None:
            held.discard(slot)
            if not held:
                del self.held[slot.key_id]

    async def refresh(self) -> None:
        """Nothing to renew in memory."""


class SharedConnectionSlots:
    """Open connections per key counted across every instance, in Redis."""

    def __init__(self, store: RedisStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self._store = store
        self._clock = clock
        self.local = ConnectionSlots()
        self._script: AsyncScript | None = None
        self.local_grants = 0  # connections admitted on the local count while Redis was down

    @staticmethod
    def _name(key_id: str) -> str:
        return f"{KEY_PREFIX}ws:{{{key_id}}}"

    async def acquire(self, key_id: str, limit: int) -> Slot | None:
        now_ms = int(self._clock.time() * 1000)
        member = uuid.uuid4().hex
        ttl_ms = int(SLOT_TTL_S * 1000)
        args = [now_ms, now_ms + ttl_ms, limit, member, ttl_ms]
        names = [self._name(key_id)]

        async def call(redis: Redis) -> int:
            if self._script is None:  # EVALSHA, loading the script again after a Redis restart
                self._script = redis.register_script(_ACQUIRE_SCRIPT)
            return int(await self._script(keys=names, args=args))

        try:
            granted = await self._store.run(call)
        except StoreUnavailable:
            self.local_grants += 1
            return await self.local.acquire(key_id, limit)
        if not granted:
            return None
        slot = Slot(key_id, member, shared=True)
        self.local.add(slot)
        return slot

    async def release(self, slot: Slot) -> None:
        self.local.forget(slot)
        if slot.shared:
            name = self._name(slot.key_id)
            with contextlib.suppress(StoreUnavailable):
                await self._store.run(lambda redis: redis.zrem(name, slot.id))

    async def refresh(self) -> None:
        """Re-assert this instance's connections (also after a Redis restart lost them)."""
        slots = [slot for held in self.local.held.values() for slot in held if slot.shared]
        if not slots:
            return
        expiry_ms = int((self._clock.time() + SLOT_TTL_S) * 1000)
        ttl_ms = int(SLOT_TTL_S * 1000)

        async def call(redis: Redis) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.zadd(self._name(slot.key_id), {slot.id: expiry_ms})
                    pipe.pexpire(self._name(slot.key_id), ttl_ms)
                await pipe.execute()

        with contextlib.suppress(StoreUnavailable):
            await self._store.run(call)
