"""Per-key hourly usage: counts add up however many flushes race for the same hour's row."""

from __future__ import annotations

import asyncio

from backend.auth.usage import UsageRecorder
from backend.core.clock import ManualClock
from backend.core.db import Database


async def test_concurrent_flushes_and_instances_add_to_one_row_per_hour(db: Database) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    instances = [UsageRecorder(db, clock) for _ in range(4)]  # four API processes, one database
    for _ in range(3):
        for recorder in instances:
            recorder.record("k1", "p1", 200)
            recorder.record("k1", "p1", 429)
            recorder.record("k2", None, 404)
        await asyncio.gather(*(recorder.flush() for recorder in instances))
    clock.advance(3600)
    instances[0].record("k1", "p1", 500)
    rows = await instances[0].usage()
    by_slot = {(row.key_id, row.hour): row for row in rows}
    assert len(rows) == 3
    first_hour = min(row.hour for row in rows)
    k1 = by_slot[("k1", first_hour)]
    assert (k1.requests, k1.errors, k1.rate_limited) == (24, 0, 12)
    k2 = by_slot[("k2", first_hour)]
    assert (k2.requests, k2.errors, k2.owner_id) == (12, 12, None)
    later = [row for row in rows if row.hour != first_hour]
    assert [(r.key_id, r.requests, r.errors) for r in later] == [("k1", 1, 1)]
