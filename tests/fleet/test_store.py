"""Fleet storage: one batched transaction per sweep, rollups, history, retention, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from backend.core.audit import AuditEntry
from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.inventory import LabelRow, MinerSpec
from backend.fleet.models import FleetMinerRow, FleetRollupRow, FleetSampleRow
from backend.fleet.store import FleetStore, SweepWrite
from backend.settings import Settings
from backend.sim.fleet import FAMILIES, FleetSimulator
from tests.fleet.fleet_helpers import make_poller, specs_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def statements(db: Database) -> list[tuple[str, bool]]:
    """(SQL, executemany) of every statement the engine sends from now on."""
    seen: list[tuple[str, bool]] = []

    def record(_c: Any, _cur: Any, sql: str, _p: Any, _ctx: Any, many: bool) -> None:
        seen.append((sql, many))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_ten_thousand_samples_are_one_batch_in_one_transaction(db: Database) -> None:
    """One executemany on SQLite; one COPY on PostgreSQL (which sends no INSERT at all)."""
    store = FleetStore(db)
    await store.ensure_miners(
        [MinerSpec(f"m{i}", "10.0.0.1", 4028 + i) for i in range(3)], "config", T0
    )
    batch = SweepWrite(
        samples=[
            {
                "miner_id": f"m{i % 3}",
                "ts": T0,
                "status": "online",
                "hashrate_ths": 100.0,
                "power_w": 3000.0,
                "temp_board_max_c": 60.0,
                "temp_chip_max_c": 70.0,
            }
            for i in range(10_000)
        ],
        states=[
            {
                "b_id": "m1",
                "b_status": "online",
                "b_snapshot": "{}",
                "b_last_seen": T0,
                "b_polled_at": T0,
            }
        ],
    )
    seen = statements(db)
    await store.write_sweep(batch)
    inserts = [many for sql, many in seen if sql.startswith("INSERT INTO fleet_samples")]
    assert inserts == ([True] if db.is_sqlite else [])
    assert sum(1 for sql, _ in seen if sql.startswith("UPDATE fleet_miners")) == 1
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FleetSampleRow)) == 10_000
        row = await session.get(FleetMinerRow, "m1")
        assert row is not None and row.status == "online" and row.last_seen == T0


async def test_poller_rolls_up_five_minutes_and_history_reads_both(
    settings: Settings, db: Database
) -> None:
    clock = ManualClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z, a bucket boundary
    async with FleetSimulator(2, use_ports=True, families=FAMILIES[:2]) as sim:
        poller = make_poller(settings, db, EventBus(), clock, specs_for(sim))
        await poller.store.ensure_miners(specs_for(sim), "config", clock.now())
        for _ in range(4):  # 0 s, 100 s, 200 s: bucket 1; 300 s: bucket 2 starts
            await poller.sweep()
            clock.advance(100)
    store = FleetStore(db)
    async with db.session() as session:
        rollups = (await session.scalars(select(FleetRollupRow).order_by(FleetRollupRow.id))).all()
    assert [(r.miner_id, r.samples, r.online) for r in rollups] == [("m0", 3, 3), ("m1", 3, 3)]
    assert rollups[0].hashrate_ths == pytest.approx(110, rel=0.08)
    raw = await store.history("m0", clock.now() - timedelta(hours=1), rollups=False)
    assert len(raw) == 4 and raw[0]["status"] == "online"
    # a restart inside a bucket writes it twice: history merges them into one point
    rows = poller.rollup_rows_on_stop()
    await store.write_sweep(SweepWrite(rollups=rows))
    await store.write_sweep(SweepWrite(rollups=[{**rows[0], "samples": 1, "hashrate_ths": 0.0}]))
    merged = await store.history("m0", clock.now() - timedelta(hours=6), rollups=True)
    assert [p["samples"] for p in merged] == [3, 2]
    assert merged[1]["hashrate_ths"] == pytest.approx(rows[0]["hashrate_ths"] / 2)


async def test_prune_keeps_the_window(db: Database) -> None:
    store = FleetStore(db)
    old, new = T0 - timedelta(hours=5), T0
    sample = {
        "miner_id": "m",
        "status": "online",
        "hashrate_ths": 1.0,
        "power_w": None,
        "temp_board_max_c": None,
        "temp_chip_max_c": None,
    }
    rollup = {**sample, "samples": 1, "online": 1}
    await store.write_sweep(
        SweepWrite(
            samples=[{**sample, "ts": old}, {**sample, "ts": new}],
            rollups=[{**rollup, "ts": T0 - timedelta(days=40)}, {**rollup, "ts": new}],
        )
    )
    assert await store.prune(T0 - timedelta(hours=2), T0 - timedelta(days=30)) == (1, 1)
    assert len(await store.history("m", T0 - timedelta(days=60), rollups=False)) == 1
    assert len(await store.history("m", T0 - timedelta(days=60), rollups=True)) == 1


async def test_label_import_upserts_and_is_audited(db: Database) -> None:
    store = FleetStore(db)
    await store.ensure_miners([MinerSpec("10.0.0.5:4028", "10.0.0.5")], "config", T0)
    rows = [
        LabelRow(2, MinerSpec("10.0.0.5:4028", "10.0.0.5", site="North", rack="R1", position="3")),
        LabelRow(3, MinerSpec("rig-9", "10.0.0.9", 4029, name="rig-9", site="South")),
    ]
    assert await store.import_labels(rows, actor="cli", now=T0) == (1, 1)
    miners = {m["id"]: m for m in await store.load_miners()}
    assert (
        miners["10.0.0.5:4028"]["site"] == "North" and miners["10.0.0.5:4028"]["source"] == "config"
    )
    assert miners["rig-9"]["port"] == 4029 and miners["rig-9"]["source"] == "import"
    async with db.session() as session:
        audit = (await session.scalars(select(AuditEntry))).all()
    assert [a.action for a in audit] == ["fleet.labels.import"]
