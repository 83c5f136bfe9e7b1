"""Carry the event bus between backend processes through Redis pub/sub (when `REDIS_URL` is set).

Every event published locally is also sent to one Redis channel with this process's origin id; every
event received from another process is delivered to the local subscribers. So a WebSocket client of
any API instance sees the events of every collector, and a key revoked on one instance is forgotten
by all of them. Sending is off the publisher's path: `publish` stays synchronous and non-blocking,
and when Redis is slow or down events for it are dropped and counted, never queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.core.bus import Event, EventBus
from backend.core.health import HealthRegistry
from backend.core.shared_state import redact_url
from backend.core.untrusted import UntrustedInputError, loads

log = logging.getLogger("hashinsight.bus.redis")

REDIS_CHANNEL = "hashinsight:bus"
OUTBOX_SIZE = 10_000
RECONNECT_S = 2.0
MAX_MESSAGE_BYTES = 4 << 20  # the largest bus event (a fleet summary) is far smaller
DRAIN_S = 2.0  # at stop, how long events already published may take to reach Redis


class RedisBusBridge:
    def __init__(
        self,
        bus: EventBus,
        url: str,
        health: HealthRegistry | None = None,
        *,
        channel: str = REDIS_CHANNEL,
        timeout_s: float = 5.0,
    ) -> None:
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self.channel = channel
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self._health = health
        self._url = url
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(OUTBOX_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        if health is not None:
            health.register("redis-bus", "bus", redact_url(url))

    async def start(self) -> None:
        try:  # fail fast and clearly at start
            await asyncio.wait_for(self._redis.ping(), 5)
        except (RedisError, OSError, TimeoutError) as exc:
            await self._redis.aclose()
            raise ConnectionError(
                f"cannot reach Redis at {redact_url(self._url)}: {type(exc).__name__}"
            ) from None
        self.bus.add_forwarder(self._forward)
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="redis-bus-send"),
            asyncio.create_task(self._receive_loop(), name="redis-bus-receive"),
        ]
        await asyncio.wait_for(self._subscribed.wait(), 5)

    async def stop(self, drain_s: float = DRAIN_S) -> None:
        """Send what was published before the stop (a shutdown's last key revocation must reach
        the other instances), at most `drain_s`; then close."""
        self.bus.remove_forwarder(self._forward)
        if self._tasks and not self._tasks[0].done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_s):
                    await self._outbox.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    def _forward(self, event: Event) -> None:
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _send_loop(self) -> None:
        while True:
            event = await self._outbox.get()
            payload = json.dumps(
                {"origin": self.origin, **event.to_dict()}, separators=(",", ":"), default=str
            )
            try:
                await self._redis.publish(self.channel, payload)
                self.sent += 1
            except (RedisError, OSError) as exc:
                self.dropped += 1
                self._report_failure(exc)
                self._outbox.task_done()
                await asyncio.sleep(RECONNECT_S)
            else:
                self._outbox.task_done()

    async def _receive_loop(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    if self._health is not None:
                        self._health.success("redis-bus", 0.0)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                self._report_failure(exc)
                await asyncio.sleep(RECONNECT_S)

    def _deliver(self, raw: bytes | str) -> None:
        try:
            message = loads(raw, max_bytes=MAX_MESSAGE_BYTES, what="bus message")
        except UntrustedInputError:
            log.warning("ignored a malformed bus message from Redis")
            return
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        channel, kind, data = message.get("channel"), message.get("event"), message.get("data")
        if not isinstance(channel, str) or not isinstance(kind, str) or not isinstance(data, dict):
            log.warning("ignored a bus message from Redis without channel/event/data")
            return
        self.received += 1
        self.bus.deliver_local(Event(channel, kind, data, float(message.get("ts") or 0.0)))

    def _report_failure(self, exc: BaseException) -> None:
        log.warning("redis bus: %s", type(exc).__name__)
        if self._health is not None:
            self._health.failure("redis-bus", f"{type(exc).__name__}: {exc}"[:200])


@contextlib.asynccontextmanager
async def bus_to_instances(url: str | None) -> AsyncIterator[EventBus | None]:
    """A bus whose events reach every running instance, for a one-shot command (`hashinsight keys
    revoke`): events published inside the block are sent before it ends. None without `url` or
    when Redis cannot be reached (the caller says what that means)."""
    if not url:
        yield None
        return
    bus = EventBus()
    bridge = RedisBusBridge(bus, url)
    try:
        await bridge.start()
    except (ConnectionError, TimeoutError) as exc:
        log.warning("%s", exc or "Redis did not confirm the subscription in time")
        await bridge.stop(drain_s=0)
        yield None
        return
    try:
        yield bus
    finally:
        await bridge.stop()
