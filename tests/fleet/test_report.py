"""The fleet section of a notarized report: per miner and site totals over the period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.core.db import Database
from backend.fleet.models import FleetMinerRow, FleetRollupRow, FleetSampleRow
from backend.fleet.report import fleet_section

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database: Database) -> Database:
    async with database.session() as session:
        for miner_id, site in (("a1", "north"), ("a2", "north"), ("b1", "south")):
            session.add(
                FleetMinerRow(
                    id=miner_id,
                    host="10.0.0.1",
                    port=4028,
                    site=site,
                    source="config",
                    added_at=NOW,
                )
            )
    return database


async def test_raw_samples_give_uptime_energy_and_efficiency_per_miner_and_site(
    db: Database,
) -> None:
    async with db.session() as session:
        for i in range(4):  # four polls ten seconds apart, in the last hour
            ts = NOW - timedelta(minutes=30) + timedelta(seconds=10 * i)
            session.add(
                FleetSampleRow(
                    miner_id="a1", ts=ts, status="online", hashrate_ths=100.0, power_w=3000.0
                )
            )
            down = i >= 2  # a2 went offline half way
            session.add(
                FleetSampleRow(
                    miner_id="a2",
                    ts=ts,
                    status="offline" if down else "online",
                    hashrate_ths=None if down else 50.0,
                    power_w=None if down else 1500.0,
                )
            )
    section = await fleet_section(db, NOW - timedelta(hours=1), NOW, poll_interval_s=10)
    assert section["source"] == "raw samples" and section["miners_reporting"] == 2
    a1, a2 = section["miners"]
    assert a1["uptime_pct"] == 100.0 and a2["uptime_pct"] == 50.0
    assert a1["energy_kwh"] == pytest.approx(3000 * 40 / 3.6e6)
    assert a1["efficiency_jth"] == pytest.approx(30.0)
    north = section["sites"]["north"]
    assert north["miners"] == 2 and north["uptime_pct"] == 75.0
    assert north["hashrate_avg_ths"] == pytest.approx(150.0)
    assert section["totals"]["energy_kwh"] == pytest.approx(a1["energy_kwh"] + a2["energy_kwh"])
    assert "south" not in section["sites"]  # b1 was never measured: no invented zeros


async def test_a_period_past_the_raw_window_reads_the_rollups(db: Database) -> None:
    day = NOW - timedelta(days=1)
    async with db.session() as session:
        for bucket in range(12):  # one hour of 5-minute buckets
            ts = day + timedelta(minutes=5 * bucket)
            session.add(
                FleetRollupRow(
                    miner_id="b1",
                    ts=ts,
                    samples=30,
                    online=30,
                    status="online",
                    hashrate_ths=200.0,
                    power_w=3600.0,
                )
            )
    section = await fleet_section(db, day, day + timedelta(days=1), poll_interval_s=10)
    assert section["source"] == "5-minute rollups"
    (b1,) = section["miners"]
    assert b1["site"] == "south" and b1["polls"] == 360 and b1["uptime_pct"] == 100.0
    assert b1["energy_kwh"] == pytest.approx(3.6)  # 3.6 kW for one hour
    assert section["totals"]["efficiency_jth"] == pytest.approx(18.0)


async def test_a_day_joins_the_rollups_with_the_minutes_not_rolled_up_yet(db: Database) -> None:
    """A daily report right after midnight: rollups for most of it, raw samples for the rest,
    and a raw sample already rolled up is not counted twice."""
    start = NOW - timedelta(hours=1)
    async with db.session() as session:
        for bucket in range(6):  # the first half hour is rolled up
            ts = start + timedelta(minutes=5 * bucket)
            session.add(
                FleetRollupRow(
                    miner_id="a1",
                    ts=ts,
                    samples=30,
                    online=30,
                    status="online",
                    hashrate_ths=100.0,
                    power_w=3000.0,
                )
            )
            session.add(
                FleetSampleRow(
                    miner_id="a1", ts=ts, status="online", hashrate_ths=100.0, power_w=3000.0
                )
            )  # inside a rollup
        for i in range(180):  # the second half hour only as raw samples, every 10 s
            ts = start + timedelta(minutes=30, seconds=10 * i)
            session.add(
                FleetSampleRow(
                    miner_id="a1", ts=ts, status="online", hashrate_ths=110.0, power_w=3300.0
                )
            )
    section = await fleet_section(db, start, NOW, poll_interval_s=10)
    assert section["source"] == "5-minute rollups + raw samples"
    (a1,) = section["miners"]
    assert a1["polls"] == 180 + 180
    assert a1["hashrate_avg_ths"] == pytest.approx(105.0)
    assert a1["energy_kwh"] == pytest.approx(3.0 * 0.5 + 3.3 * 0.5)
