"""The event bus: bounded per-subscriber queues, drops counted, publishers never blocked.

Each test runs in-process ("memory": one bus, as the embedded default) and through real Redis
("redis": events published on one process's bus reach the subscribers of another's, as with
`REDIS_URL`), so what a subscriber sees does not depend on the deployment.
"""

from __future__ import annotations

import ast
import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backend.core.bus import EventBus, SubscriptionClosed
from backend.core.redis_bridge import RedisBusBridge
from hashinsight_contract.events import IssuerStarted, KeyChanged
from hashinsight_contract.wallet import WalletLoginEntry
from tests.helpers import eventually


@dataclass
class Buses:
    """Where events are published and where they are subscribed to (the same bus in memory)."""

    publisher: EventBus
    subscriber: EventBus
    bridges: list[RedisBusBridge] = field(default_factory=list)

    async def settle(self, published: int) -> None:
        """Wait until the subscriber's side has received `published` events (Redis only)."""
        if not self.bridges:
            return
        receiver = self.bridges[1]
        await eventually(lambda: receiver.received >= published, step_s=0.01, what="delivery")


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[Buses]:
    if request.param == "memory":
        bus = EventBus()
        yield Buses(bus, bus)
        return
    url = request.getfixturevalue("redis_url")
    channel = f"test-bus:{uuid.uuid4().hex}"  # one stream per test: tests never see each other
    a, b = EventBus(), EventBus()
    bridges = [RedisBusBridge(bus, url, channel=channel) for bus in (a, b)]
    for bridge in bridges:
        await bridge.start()
    try:
        yield Buses(a, b, bridges)
    finally:
        for bridge in bridges:
            await bridge.stop()


async def test_subscribers_get_only_their_channels_in_order(buses: Buses) -> None:
    prices = buses.subscriber.subscribe({"prices"})
    everything = buses.subscriber.subscribe(None)
    buses.publisher.publish("prices", "price.tick", {"p": 1})
    buses.publisher.publish("health", "health.update", {"name": "db"})
    buses.publisher.publish("prices", "price.tick", {"p": 2})
    await buses.settle(3)
    assert [(await prices.get()).data["p"] for _ in range(2)] == [1, 2]
    assert [(await everything.get()).channel for _ in range(3)] == ["prices", "health", "prices"]
    assert prices._queue.empty()


async def test_slow_subscriber_drops_oldest_and_counts(buses: Buses) -> None:
    slow = buses.subscriber.subscribe({"miners"}, maxsize=3)
    for i in range(10):
        buses.publisher.publish("miners", "miner.update", {"i": i})
    await buses.settle(10)
    assert slow.dropped == 7 and buses.subscriber.dropped_total == 7
    assert [(await slow.get()).data["i"] for _ in range(3)] == [7, 8, 9]


async def test_cut_policy_closes_the_subscriber_and_wakes_its_reader(buses: Buses) -> None:
    sub = buses.subscriber.subscribe({"x"}, maxsize=2, policy="cut")
    for i in range(3):
        buses.publisher.publish("x", "e", {"i": i})
    await buses.settle(3)
    assert sub.cut and sub.closed
    assert buses.subscriber.stats()["subscribers"] == 0
    with pytest.raises(SubscriptionClosed):
        while True:
            await asyncio.wait_for(sub.get(), 1)


async def test_close_ends_async_iteration(buses: Buses) -> None:
    sub = buses.subscriber.subscribe({"x"})
    buses.publisher.publish("x", "e", {"i": 1})
    await buses.settle(1)

    async def collect() -> list[int]:
        return [event.data["i"] async for event in sub]

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)
    buses.subscriber.close()
    assert await asyncio.wait_for(task, 1) == [1]


async def test_subscribing_to_a_closed_bus_ends_at_once() -> None:
    # A WebSocket client that authenticates while the backend stops must not leave a reader
    # waiting forever on a bus that will never publish again.
    bus = EventBus()
    bus.close()
    late = bus.subscribe({"x"})
    assert late.closed
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(late.get(), 1)
    bus.publish("x", "e", {})
    assert late.poll() == []


async def test_publish_never_blocks_with_many_full_subscribers(buses: Buses) -> None:
    subs = [buses.subscriber.subscribe(None, maxsize=1) for _ in range(200)]
    for i in range(1000):
        buses.publisher.publish("x", "e", {"i": i})
    await buses.settle(1000)
    assert all(s.dropped == 999 for s in subs)
    assert buses.subscriber.last_by_channel["x"].data == {"i": 999}


async def test_malformed_messages_from_redis_are_ignored(redis_url: str) -> None:
    from redis.asyncio import Redis

    bus = EventBus()
    channel = f"test-bus:{uuid.uuid4().hex}"
    bridge = RedisBusBridge(bus, redis_url, channel=channel)
    await bridge.start()
    sub = bus.subscribe(None)
    raw = Redis.from_url(redis_url, socket_timeout=5)
    try:
        for junk in ("not json", '{"origin": "x"}', '{"channel": 1, "event": "e", "data": {}}'):
            await raw.publish(channel, junk)
        await raw.publish(channel, '{"origin":"x","channel":"c","event":"e","data":{"ok":1}}')
        event = await asyncio.wait_for(sub.get(), 10)
        assert (event.channel, event.data) == ("c", {"ok": 1})
        assert bridge.received == 1
    finally:
        await raw.aclose()
        await bridge.stop()


def test_emit_sends_the_contracts_payload_on_the_contracts_channel() -> None:
    bus = EventBus()
    sub = bus.subscribe(None, maxsize=10)
    event = bus.emit("key.changed", KeyChanged(key_id="k1"))
    assert (event.channel, event.type, event.data) == ("auth.keys", "key.changed", {"key_id": "k1"})
    assert sub._queue.qsize() == 1


def test_emit_refuses_what_no_client_could_parse() -> None:
    bus = EventBus()
    with pytest.raises(KeyError, match="not in the contract"):
        bus.emit("key.renamed", KeyChanged(key_id="k1"))
    with pytest.raises(TypeError, match="carries KeyChanged"):
        bus.emit("key.changed", IssuerStarted(start="2026-01-01T00:00:00Z"))
    entry = WalletLoginEntry(
        id=1,
        at="2026-01-01T00:00:00Z",
        address=None,
        outcome="rejected",
        reason=None,
        geo_status="pending",
        **dict.fromkeys(["geo_detail", "country", "country_code", "region", "city"]),
        ip="203.0.113.9",
        **dict.fromkeys(["user_agent", "lat", "lon", "isp"]),
    )
    with pytest.raises(TypeError):  # a subclass: its private fields would go out with it
        bus.emit("wallet.login", entry)
    assert bus.published_total == 0


def test_features_publish_through_emit() -> None:
    """Only the poller's per-sweep events (checked against the contract by tests, built as plain
    data for speed) and internal channels call `bus.publish` directly; every other event is
    built as its contract model and sent with `emit`."""
    allowed = {
        "backend/fleet/poller.py",  # miner.update, fleet.readings, fleet.sweep: thousands a sweep
        "backend/auth/shared_throttle.py",  # auth.throttle: between instances, never to clients
    }
    callers: set[str] = set()
    for path in Path("backend").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "publish"
                and ast.unparse(node.func.value).endswith("bus")
            ):
                callers.add(path.as_posix())
    assert callers - allowed == set()
    assert "backend/fleet/poller.py" in callers  # the scan finds calls at all
