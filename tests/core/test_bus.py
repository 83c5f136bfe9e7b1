"""The event bus: bounded per-subscriber queues, drops counted, publishers never blocked."""

from __future__ import annotations

import asyncio

import pytest

from backend.core.bus import EventBus, SubscriptionClosed


async def test_subscribers_get_only_their_channels_in_order() -> None:
    bus = EventBus()
    prices = bus.subscribe({"prices"})
    everything = bus.subscribe(None)
    bus.publish("prices", "price.tick", {"p": 1})
    bus.publish("health", "health.update", {"name": "db"})
    bus.publish("prices", "price.tick", {"p": 2})
    assert [(await prices.get()).data["p"] for _ in range(2)] == [1, 2]
    assert [(await everything.get()).channel for _ in range(3)] == ["prices", "health", "prices"]


async def test_slow_subscriber_drops_oldest_and_counts() -> None:
    bus = EventBus()
    slow = bus.subscribe({"miners"}, maxsize=3)
    for i in range(10):
        bus.publish("miners", "miner.update", {"i": i})
    assert slow.dropped == 7 and bus.dropped_total == 7
    assert [(await slow.get()).data["i"] for _ in range(3)] == [7, 8, 9]


async def test_cut_policy_closes_the_subscriber_and_wakes_its_reader() -> None:
    bus = EventBus()
    sub = bus.subscribe({"x"}, maxsize=2, policy="cut")
    for i in range(3):
        bus.publish("x", "e", {"i": i})
    assert sub.cut and sub.closed
    assert bus.stats()["subscribers"] == 0
    with pytest.raises(SubscriptionClosed):
        while True:
            await asyncio.wait_for(sub.get(), 1)


async def test_close_ends_async_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe({"x"})
    bus.publish("x", "e", {"i": 1})

    async def collect() -> list[int]:
        return [event.data["i"] async for event in sub]

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)
    bus.close()
    assert await asyncio.wait_for(task, 1) == [1]


async def test_publish_never_blocks_with_many_full_subscribers() -> None:
    bus = EventBus()
    subs = [bus.subscribe(None, maxsize=1) for _ in range(200)]
    for i in range(1000):
        bus.publish("x", "e", {"i": i})
    assert all(s.dropped == 999 for s in subs)
    assert bus.last_by_channel["x"].data == {"i": 999}
