"""The engine-specific storage paths behave the same on SQLite and PostgreSQL.

Sample and rollup batches (COPY on PostgreSQL), the ON CONFLICT inserts under two writers at
once, the shard fence that stops a collector whose lease was taken over mid-sweep, and
migration 0012 (partial indexes, `issuer_leases` dropped) up and down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database, alembic_config
from backend.core.lease import Lease, LeaseLost
from backend.fleet.collector import ShardCollector
from backend.fleet.inventory import MinerSpec
from backend.fleet.models import FleetAlertRow, FleetMinerRow, FleetRollupRow, FleetSampleRow
from backend.fleet.shard import HeartbeatStore, parse_shard
from backend.fleet.store import FleetStore, SweepWrite
from backend.settings import Settings
from backend.sim.fleet import FleetSimulator
from tests.fleet.fleet_helpers import make_poller, specs_for

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PARTIAL_INDEXES = {
    "ix_fleet_alerts_open": "fleet_alerts",
    "ix_fleet_commands_pending": "fleet_commands",
}


@pytest.fixture
def db(database: Database) -> Database:
    """A private database at the latest schema, on each engine in turn (tests/conftest.py)."""
    return database


def sample(n: int, ts: datetime) -> dict[str, Any]:
    return {
        "miner_id": f"m{n}",
        "ts": ts,
        "status": "online" if n % 3 else "offline",
        "hashrate_ths": None if n % 3 == 0 else 100.0 + n,
        "power_w": 3250 + n,  # an int into a float column
        "temp_board_max_c": 65.5,
        "temp_chip_max_c": None,
    }


def rollup(n: int, ts: datetime) -> dict[str, Any]:
    return {
        "miner_id": f"m{n}",
        "ts": ts,
        "samples": 30,
        "online": 29,
        "status": "online",
        "hashrate_ths": 99.5,
        "power_w": 3000.0,
        "temp_board_max_c": 70.0,
        "temp_chip_max_c": 80.25,
    }


async def count(db: Database, model: type[Any]) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_sweep_reads_back_the_same_on_both_engines(db: Database) -> None:
    store = FleetStore(db)
    specs = [MinerSpec(id=f"m{n}", host="127.0.0.1", port=4028 + n) for n in range(5)]
    assert await store.ensure_miners(specs, "config", T0) == 5
    ts = T0 + timedelta(seconds=10)
    batch = SweepWrite(
        samples=[sample(n, ts) for n in range(5)],
        states=[
            {"b_id": "m1", "b_status": "online", "b_snapshot": "{}", "b_last_seen": ts},
            {"b_id": "m2", "b_status": "offline", "b_snapshot": None, "b_last_seen": None},
        ],
        rollups=[rollup(n, T0) for n in range(5)],
        new_alerts=[
            {
                "miner_id": "m0",
                "rule": "offline",
                "severity": "critical",
                "state": "raised",
                "message": "m0 is offline",
                "value": None,
                "threshold": None,
                "raised_at": ts,
            }
        ],
    )
    for state in batch.states:
        state["b_polled_at"] = ts
    ids = await store.write_sweep(batch)
    assert len(ids) == 1

    for n in range(5):
        raw = await store.history(f"m{n}", T0, rollups=False)
        expected = sample(n, ts)
        assert raw == [{k: v for k, v in expected.items() if k != "miner_id"}]
        assert raw[0]["ts"].tzinfo is not None
        buckets = await store.history(f"m{n}", T0, rollups=True)
        want = rollup(n, T0)
        assert buckets == [{k: want[k] for k in buckets[0]}]
    miners = {row["id"]: row for row in await store.load_miners()}
    assert miners["m1"]["status"] == "online" and miners["m1"]["last_seen"] == ts
    assert miners["m2"]["status"] == "offline" and miners["m0"]["status"] is None
    assert [alert.id for alert in await store.open_alerts()] == ids


async def test_a_failing_sweep_writes_none_of_its_samples(db: Database) -> None:
    """The COPY runs inside the sweep's transaction: an error later rolls it back too."""
    store = FleetStore(db)
    broken = {"miner_id": "m0", "rule": "x", "severity": "x", "state": "raised", "message": None}
    batch = SweepWrite(
        samples=[sample(n, T0) for n in range(50)],
        rollups=[rollup(n, T0) for n in range(50)],
        new_alerts=[{**broken, "raised_at": T0}],
    )
    with pytest.raises(Exception, match=r"(?i)null"):
        await store.write_sweep(batch)
    assert await count(db, FleetSampleRow) == 0
    assert await count(db, FleetRollupRow) == 0
    await store.write_sweep(SweepWrite(samples=[sample(1, T0)]))  # the connection is fine
    assert await count(db, FleetSampleRow) == 1


def meet_before_writing(db: Database, barrier: asyncio.Barrier, met: list[str]) -> None:
    """The second session `db` opens waits until the other writer got there too: both have
    read the same (empty) inventory before either writes, the race ON CONFLICT settles."""
    original = db.session
    opened = 0

    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        nonlocal opened
        opened += 1
        if opened == 2:
            await asyncio.wait_for(barrier.wait(), 30)
            met.append(db.url)
        async with original() as inner:
            yield inner

    db.session = session  # type: ignore[method-assign]


async def test_two_writers_adding_the_same_miners_at_once(database_url: str) -> None:
    """ensure_miners and the heartbeat upsert are ON CONFLICT statements: two processes doing
    the same at the same moment both succeed, and each row exists (and is counted) once."""
    first, second = Database(database_url), Database(database_url)
    try:
        barrier, met = asyncio.Barrier(2), []
        meet_before_writing(first, barrier, met)
        meet_before_writing(second, barrier, met)
        specs = [MinerSpec(id=f"m{n:03}", host="10.0.0.1", port=n) for n in range(300)]
        added = await asyncio.gather(
            FleetStore(first).ensure_miners(specs, "config", T0),
            FleetStore(second).ensure_miners(list(reversed(specs)), "scan", T0),
        )
        assert len(met) == 2  # both had read an empty inventory before either wrote
        assert sum(added) == 300  # each new miner counted by exactly one writer
        assert await count(first, FleetMinerRow) == 300
        again = await FleetStore(second).ensure_miners(specs[:10], "scan", T0)
        assert again == 0

        beats = (HeartbeatStore(first), HeartbeatStore(second))
        values = {
            "holder": "h",
            "miners": 1,
            "polled": 1,
            "errors": 0,
            "sweeps": 1,
            "interval_s": 10.0,
            "duration_s": None,
            "started_at": T0,
            "last_sweep_at": T0,
        }
        for sweeps in (1, 2, 3):
            await asyncio.gather(
                *(
                    beat.beat("1/2", {**values, "sweeps": sweeps, "holder": f"h{i}"}, home=True)
                    for i, beat in enumerate(beats)
                )
            )
        rows = await beats[0].all()
        assert len(rows) == 1 and rows[0]["sweeps"] == 3 and rows[0]["holder"] in ("h0", "h1")
        assert rows[0]["last_sweep_at"] == T0
    finally:
        await first.close()
        await second.close()


async def test_a_fenced_write_of_a_lost_lease_writes_nothing(db: Database) -> None:
    clock = ManualClock()
    old = Lease(db, clock, 10, name="fleet-shard:all", holder="host:1:old")
    new = Lease(db, clock, 10, name="fleet-shard:all", holder="host:2:new")
    store = FleetStore(db)
    assert await old.acquire()
    await store.write_sweep(SweepWrite(samples=[sample(1, T0)]), [old])
    assert await count(db, FleetSampleRow) == 1

    clock.advance(11)  # the old holder stalled past its lease; the new one takes over
    assert await new.acquire()
    old_token = old.token
    with pytest.raises(LeaseLost):
        await store.write_sweep(
            SweepWrite(samples=[sample(n, T0) for n in range(20)], rollups=[rollup(1, T0)]),
            [old],
        )
    assert old.token is None and old_token is not None
    assert await count(db, FleetSampleRow) == 1
    assert await count(db, FleetRollupRow) == 0
    await store.write_sweep(SweepWrite(samples=[sample(2, T0)]), [new])
    assert await count(db, FleetSampleRow) == 2


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(6, use_ports=True, families=["cgminer"]) as fleet:
        yield fleet


async def test_a_collector_that_lost_its_shard_mid_sweep_stops_cleanly(
    settings: Settings, db: Database, sim: FleetSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Collector A still believes it holds the shard (its clock lags) when B takes it over:
    A's sweep is refused by the fence, A drops the shard, logs it once, and writes nothing."""
    slow, fast = ManualClock(), ManualClock()
    specs = specs_for(sim)

    def collector(clock: ManualClock, holder: str) -> ShardCollector:
        poller = make_poller(settings, db, EventBus(), clock, [])
        made = ShardCollector(db, clock, poller, parse_shard("all"), lease_ttl_s=10, holder=holder)
        made.set_inventory(specs)
        return made

    a = collector(slow, "host-x:1:a")
    b = collector(fast, "host-x:2:b")
    await a._round()
    assert set(a.poller.states) == {s.id for s in specs}
    written = await count(db, FleetSampleRow)
    assert written == len(specs)

    fast.advance(11)  # for B, A's lease has expired
    await b._round()
    assert b.held and await count(db, FleetSampleRow) == 2 * len(specs)

    # A's clock has not moved: locally its lease still looks valid, so it sweeps again.
    caplog.set_level(logging.INFO, logger="hashinsight.fleet")
    await a._round()
    assert not a.held and not a.poller.states
    assert await count(db, FleetSampleRow) == 2 * len(specs)
    lost = [r for r in caplog.records if "lease lost" in r.getMessage()]
    assert len(lost) == 1 and lost[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await a.stop()
    await b.stop()


def _downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


async def _schema(db: Database) -> tuple[set[str], dict[str, str]]:
    """Table names, and the partial indexes of 0012 with their definitions."""
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        if db.is_sqlite:
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        rows = (await connection.execute(text(query))).all()
    return tables, {name: sql for name, sql in rows if name in PARTIAL_INDEXES}


async def test_migration_0012_up_and_down(database_url: str) -> None:
    db = Database(database_url)
    try:
        tables, indexes = await _schema(db)
        assert "issuer_leases" not in tables and {"leases", "issues"} <= tables
        assert set(indexes) == set(PARTIAL_INDEXES)
        for name, table in PARTIAL_INDEXES.items():
            assert table in indexes[name] and "WHERE" in indexes[name].upper()
        await db.close()

        await asyncio.to_thread(_downgrade, database_url, "0011_market_samples")
        tables, indexes = await _schema(db)
        assert "issuer_leases" in tables and "fleet_alerts" in tables and indexes == {}
        await db.close()

        await db.upgrade()
        tables, indexes = await _schema(db)
        assert "issuer_leases" not in tables and set(indexes) == set(PARTIAL_INDEXES)
    finally:
        await db.close()


def test_open_alert_query_matches_the_partial_index() -> None:
    """The partial index only serves queries whose WHERE implies its own: keep them in step."""
    query = select(FleetAlertRow).where(FleetAlertRow.state != "cleared")
    compiled = str(query.compile(compile_kwargs={"literal_binds": True}))
    assert "fleet_alerts.state != 'cleared'" in compiled
