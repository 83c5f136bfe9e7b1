"""Shards: a stable split of the fleet, collectors that hold their shard by lease, adopt a dead
one and hand it back, and the stale flags an API-only view derives from their heartbeats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.collector import ShardCollector
from backend.fleet.inventory import MinerSpec
from backend.fleet.shard import HeartbeatStore, parse_shard, shard_of, stale_miner_ids
from backend.fleet.store import FleetStore
from backend.fleet.view import FleetView
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_contract.events import FleetReadings
from tests.fleet.fleet_helpers import drain, make_poller, specs_for


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(10, use_ports=True, families=["cgminer"]) as fleet:
        yield fleet


def test_every_miner_belongs_to_exactly_one_shard() -> None:
    ids = [f"10.0.{i // 250}.{i % 250}:4028" for i in range(2000)]
    for count in (1, 2, 3, 7):
        shards = [parse_shard(f"{i}/{count}") for i in range(1, count + 1)]
        for miner_id in ids:
            spec = MinerSpec(id=miner_id, host="h")
            assert sum(shard.covers(spec) for shard in shards) == 1
    sizes = [sum(shard_of(m, 4) == i for m in ids) for i in (1, 2, 3, 4)]
    assert min(sizes) > 400  # roughly even
    assert shard_of("miner-a", 8) == shard_of("miner-a", 8)  # no per-process hash seed
    site = parse_shard("site:North")
    assert site.key == "site:North" and site.covers(MinerSpec(id="x", host="h", site="North"))
    assert not site.covers(MinerSpec(id="x", host="h", site=None))
    assert parse_shard("all").key == "all"
    for bad in ("0/2", "3/2", "1/0", "x/2", "1-2", "site:"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_stale_miners_are_those_no_fresh_heartbeat_covers() -> None:
    clock = ManualClock()
    now = clock.now()
    specs = [MinerSpec(id=f"m{i}", host="h") for i in range(20)]
    beats = [
        {"shard": "1/2", "last_sweep_at": now - timedelta(seconds=2)},
        {"shard": "2/2", "last_sweep_at": now - timedelta(seconds=60)},
    ]
    stale = stale_miner_ids(specs, beats, now, 10)
    assert stale == {s.id for s in specs if shard_of(s.id, 2) == 2}
    assert stale_miner_ids(specs, [], now, 10) == {s.id for s in specs}
    assert stale_miner_ids(specs, [{"shard": "all", "last_sweep_at": now}], now, 10) == set()


async def test_collectors_split_adopt_and_hand_back(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    clock = ManualClock()
    specs = specs_for(sim)

    def collector(shard: str, holder: str, *, adopt: bool = False) -> ShardCollector:
        poller = make_poller(settings, db, EventBus(), clock, [])
        c = ShardCollector(
            db,
            clock,
            poller,
            parse_shard(shard),
            lease_ttl_s=10,
            adopt=adopt,
            adopt_after_s=30,
            holder=holder,
        )
        c.set_inventory(specs)
        return c

    one = collector("1/2", "host-x:1:one")
    two = collector("2/2", "host-x:2:two", adopt=True)
    await one._round()
    await two._round()
    polled_one, polled_two = set(one.poller.states), set(two.poller.states)
    assert polled_one and polled_two and not polled_one & polled_two
    assert polled_one | polled_two == {s.id for s in specs}
    beats = {b["shard"]: b for b in await HeartbeatStore(db).all()}
    assert beats["1/2"]["miners"] + beats["2/2"]["miners"] == len(specs)
    assert beats["1/2"]["polled"] == len(polled_one)

    # Collector one stops sweeping (no release: it died). Before adopt_after nothing moves.
    clock.advance(20)
    await two._round()
    assert set(two.poller.states) == polled_two
    clock.advance(15)  # heartbeat 35 s old, lease expired
    await two._round()
    assert set(two.poller.states) == polled_one | polled_two
    assert (await HeartbeatStore(db).all())[0]["holder"] == "host-x:2:two"

    # Collector one comes back: it claims its shard and the adopter hands it back.
    await one._round()
    assert not one.held and not one.poller.states
    await two._round()
    assert set(two.poller.states) == polled_two
    await one._round()
    assert set(one.poller.states) == polled_one
    beats = {b["shard"]: b for b in await HeartbeatStore(db).all()}
    assert beats["1/2"]["holder"] == "host-x:1:one" and beats["1/2"]["claimed_by"] is None
    await one.stop()
    await two.stop()


async def test_view_shows_the_stored_fleet_and_flags_dead_shards(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    clock = ManualClock()
    specs = specs_for(sim)
    store = FleetStore(db)
    await store.ensure_miners(specs, "config", clock.now())
    poller = make_poller(settings, db, EventBus(), clock, [])
    one = ShardCollector(db, clock, poller, parse_shard("1/2"), lease_ttl_s=10, holder="h:1:a")
    one.set_inventory(specs)
    await one._round()

    placeholder_source = make_poller(settings, db, EventBus(), clock, specs)
    view = FleetView(
        store,
        HeartbeatStore(db),
        EventBus(),
        clock,
        interval_s=1.0,
        stale_after_s=10.0,
        power_price=0.06,
        live=False,
    )
    view.set_inventory(
        specs, lambda spec: placeholder_source.miner_data(placeholder_source.states[spec.id])
    )
    await view.refresh(full=True)
    miners = {m["id"]: m for m in view.miners(summary=True)}
    assert set(miners) == {s.id for s in specs}
    mine = set(one.poller.states)
    for miner_id, data in miners.items():
        assert data["stale"] is (miner_id not in mine)  # nobody polls shard 2/2
        assert (data["status"] == "online") is (miner_id in mine)
        assert "boards" not in data
    summary = view.summary()
    assert summary["total"] == len(specs) and summary["stale"] == len(specs) - len(mine)
    assert summary["online"] == len(mine) and summary["sweep"]["miners"] == len(mine)

    # A live update merges in (boards kept); an older one is ignored.
    some = next(iter(mine))
    before = view.miner(some)
    assert before is not None and "boards" in before
    newer = {**miners[some], "hashrate_ths": 1.5, "polled_at": before["polled_at"] + 1}
    view.apply(newer)
    view.apply({**newer, "hashrate_ths": 9.0, "polled_at": before["polled_at"] - 5})
    after = view.miner(some)
    assert after is not None and after["hashrate_ths"] == 1.5 and "boards" in after

    swept_at = summary["sweep"]["started_at"]
    clock.advance(11)  # collector one went quiet
    await view.refresh(full=False)
    assert all(m["stale"] for m in view.miners())
    # the summary still says when the fleet was last swept (its age grows), not "never"
    quiet = view.summary()
    assert quiet["stale"] == len(specs) and quiet["sweep"]["started_at"] == swept_at
    await one.stop()


def test_migration_0008_matches_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from backend.core.db import run_migrations
    from backend.models import Base

    path = tmp_path / "m.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "'leases'" in repr(d) or "fleet_collectors" in repr(d)] == []


async def test_without_redis_the_view_publishes_each_collector_sweep_as_readings(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    """An API-only instance with no Redis gets no `fleet.readings` from the collectors, and
    stored states move only by full steps: it takes the stored polls instead, so its consoles
    stay as of the last sweep."""
    clock = ManualClock()
    specs = specs_for(sim)
    store = FleetStore(db)
    await store.ensure_miners(specs, "config", clock.now())
    collector = ShardCollector(
        db,
        clock,
        make_poller(settings, db, EventBus(), clock, []),
        parse_shard("1/1"),
        lease_ttl_s=10,
        holder="h:1:a",
    )
    collector.set_inventory(specs)
    placeholder_source = make_poller(settings, db, EventBus(), clock, specs)
    bus = EventBus()
    readings = bus.subscribe({"readings"}, maxsize=100, name="console")
    view = FleetView(
        store,
        HeartbeatStore(db),
        bus,
        clock,
        interval_s=1.0,
        stale_after_s=10.0,
        power_price=0.06,
        live=False,
    )
    view.set_inventory(
        specs, lambda spec: placeholder_source.miner_data(placeholder_source.states[spec.id])
    )
    view._samples_after = clock.now() - timedelta(seconds=1)  # what start() sets
    clock.advance(1)
    await collector._round()  # one sweep of the whole fleet, stored
    await view.refresh(full=True)
    [event] = drain(readings)
    assert event.type == "fleet.readings"
    assert event.data["fields"][:2] == ("status", "hashrate_ths")
    assert {row[0] for row in event.data["rows"]} == {s.id for s in specs}
    polled = {row[0]: row for row in event.data["rows"]}

    clock.advance(1)  # the next sweep: readings move a little (no full step, no stored state)
    await collector._round()
    await view.refresh(full=True)
    [second] = drain(readings)
    assert second.data["polled_at"] > event.data["polled_at"]
    assert {row[0] for row in second.data["rows"]} == set(polled)
    miner = view.miner(specs[0].id)
    assert miner is not None and miner["polled_at"] == second.data["polled_at"]
    assert miner["hashrate_ths"] == next(
        row[2] for row in second.data["rows"] if row[0] == specs[0].id
    )
    await view.refresh(full=True)  # nothing new stored: nothing published
    assert drain(readings) == []
    # A miner goes dark: its error (not in a stored poll) reaches consoles with that sweep's
    # readings, not only at their next full reload.
    await sim.miners[0].set_fault(Fault.OFFLINE)
    clock.advance(1)
    await collector._round()
    await view.refresh(full=True)
    [third] = drain(readings)
    fields = third.data["fields"]
    values = next(r[1:] for r in third.data["rows"] if r[0] == specs[0].id)
    row = dict(zip(fields, values, strict=True))
    assert row["status"] == "offline" and row["error"] and "last_seen" in row
    FleetReadings.model_validate(third.data | {"sweep": 0})  # every field is the contract's
    await collector.stop()
