"""Every API instance on one database runs a webhook worker: each due delivery must be
attempted by exactly one of them (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio

from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.notify.webhooks import WebhookStore


async def test_two_instances_never_claim_the_same_delivery(database: Database) -> None:
    clock = ManualClock()
    one, other = WebhookStore(database, clock), WebhookStore(database, clock)
    ids = await one.enqueue([(f"wh_{i}", "p_1") for i in range(40)], "price.move", {"usd": 1})
    clock.advance(1)
    claimed: list[int] = []
    for _ in range(5):  # both workers' loops, side by side, until nothing is left
        for rows in await asyncio.gather(one.due(8, set()), other.due(8, set())):
            claimed += [row.id for row in rows]
    assert sorted(claimed) == sorted(ids)  # each delivery once, none twice
    assert await one.due(100, set()) == []
    clock.advance(61)  # an instance died mid-attempt: its claims run out
    assert sorted(row.id for row in await other.due(100, set())) == sorted(ids)


async def test_resuming_a_partner_releases_only_what_its_suspension_held(
    database: Database,
) -> None:
    """A retry waiting out its backoff keeps waiting when the partner is resumed; only the
    deliveries its suspension held go out at once."""
    from backend.notify.webhooks import HELD

    clock = ManualClock()
    store = WebhookStore(database, clock)
    held, backing_off = await store.enqueue(
        [("wh_1", "p_1"), ("wh_2", "p_1")], "price.move", {"usd": 1}
    )
    await store.postpone(held, 300, f"{HELD}the partner is suspended")
    await store.postpone(backing_off, 300, "HTTP 503")
    await store.release_partner("p_1")
    clock.advance(1)
    assert [row.id for row in await store.due(10, set())] == [held]


async def test_every_instance_seeing_one_event_makes_one_delivery_per_endpoint(
    database: Database,
) -> None:
    """Behind Redis every API instance gets every bus event: each one's dispatcher enqueues it,
    under the id all of them derive from the event, and each endpoint gets one delivery."""
    import json

    from backend.core.bus import Event
    from backend.notify.webhooks import event_message_id

    local = Event("alerts", "miner.alert", {"rule": "offline", "miner_id": "m-17", "n": 1.5})
    wire = json.loads(json.dumps({"origin": "other", **local.to_dict()}))  # the bridge's copy
    bridged = Event(wire["channel"], wire["event"], wire["data"], float(wire["ts"]))
    ours, theirs = (
        event_message_id(local, "miner.offline"),
        event_message_id(bridged, "miner.offline"),
    )
    assert ours == theirs and ours != event_message_id(local, "miner.alert")
    clock = ManualClock()
    one, other = WebhookStore(database, clock), WebhookStore(database, clock)
    targets = [("wh_1", "p_1"), ("wh_2", "p_2")]
    await asyncio.gather(
        one.enqueue(targets, "miner.offline", local.data, ours),
        other.enqueue(targets, "miner.offline", bridged.data, theirs),
    )
    await one.enqueue(targets, "miner.offline", local.data, ours)  # and once more, late
    rows, total = await one.deliveries()
    assert total == 2 and sorted(r.webhook_id for r in rows) == ["wh_1", "wh_2"]
