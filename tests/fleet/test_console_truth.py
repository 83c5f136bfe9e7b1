"""What the console relies on to stay true: every polled miner's readings each sweep (below the
`miner.update` deadband too), and fleet totals that state which miners they cover."""

from __future__ import annotations

from typing import Any

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.poller import READING_FIELDS, READINGS
from backend.fleet.totals import MinerFigures, fleet_totals
from backend.settings import Settings
from backend.sim.fleet import FAMILIES, FleetSimulator
from tests.fleet.fleet_helpers import drain, make_poller, specs_for


def rows_of(event_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = ("id", *event_data["fields"])
    return {row[0]: dict(zip(names, row, strict=True)) for row in event_data["rows"]}


async def test_every_polled_miner_is_in_each_sweeps_readings_below_the_deadband(
    settings: Settings, db: Database
) -> None:
    async with FleetSimulator(8, use_ports=True, families=FAMILIES, seed=3) as sim:
        bus = EventBus()
        subscription = bus.subscribe(["miners", "readings"], maxsize=10_000)
        clock = ManualClock()
        poller = make_poller(settings, db, bus, clock, specs_for(sim))
        await poller.sweep()
        drain(subscription)
        clock.advance(1.0)
        await poller.sweep()
        events = drain(subscription)
    updates = {e.data["id"] for e in events if e.type == "miner.update"}
    readings = [e.data for e in events if e.type == READINGS]
    assert len(readings) == 1 and tuple(readings[0]["fields"]) == READING_FIELDS
    rows = rows_of(readings[0])
    assert set(rows) == set(poller.states)  # every miner, not just the few past the deadband
    quiet = set(poller.states) - updates
    assert quiet, "the deadband held back no miner: this test proves nothing"
    for miner_id in quiet:  # their readings still arrive, as the API has them now
        now = poller.miner_data(poller.states[miner_id])
        row = rows[miner_id]
        for name, digits in (("hashrate_ths", 3), ("temp_board_max_c", 1), ("power_w", 1)):
            value = now[name]
            assert row[name] == (None if value is None else round(value, digits))
        assert row["uptime_s"] == now["uptime_s"] and row["status"] == now["status"]
    assert readings[0]["polled_at"] == poller.miner_data(poller.states["m0"])["polled_at"]
    # the whole sweep's rows are fresher than what the deadbanded stream last said
    assert readings[0]["sweep"] == poller.sweeps


def test_totals_state_their_coverage_and_profit_only_where_a_cost_is_known() -> None:
    miners = [
        # measured power
        MinerFigures("online", "A", 100.0, 110.0, 3000.0, 10.0, 6.0, "Antminer S19j Pro"),
        # no power reported, model with a known nameplate: estimated, marked apart
        MinerFigures("online", "A", 100.0, 110.0, None, 10.0, None, "Antminer S19 Pro"),
        # no power, unknown model: in revenue, never in profit
        MinerFigures("online", "B", 100.0, 110.0, None, 10.0, None, "Mystery 9000"),
        MinerFigures("offline", "B", None, None, None, None, None, "Antminer S19 Pro"),
    ]
    totals = fleet_totals(miners, power_price_usd_kwh=0.05)
    assert totals["coverage"] == {
        "online": 3,
        "power_measured": 1,
        "power_estimated": 1,
        "revenue": 3,
        "profit": 2,
        "profit_estimated": 1,
    }
    assert totals["power_kw"] == 3.0  # measured only
    assert totals["power_estimated_kw"] == 3.25
    assert totals["revenue_usd_day"] == 30.0 and totals["cost_usd_day"] == 6.0
    assert totals["cost_estimated_usd_day"] == 3.9  # 3.25 kW x 24 h x $0.05
    # profit over the two miners with a cost: (10 - 6) + (10 - 3.9); never 30 - 6
    assert totals["profit_usd_day"] == 10.1
    assert totals["efficiency_jth"] == 30.0  # the measured miner's own J/TH


def test_totals_without_power_or_price_make_no_profit_up() -> None:
    miners = [MinerFigures("online", "A", 100.0, 110.0, None, 10.0, None, "Mystery 9000")]
    totals = fleet_totals(miners)
    assert totals["profit_usd_day"] is None and totals["revenue_usd_day"] == 10.0
    assert totals["coverage"]["power_measured"] == 0 and totals["coverage"]["profit"] == 0


async def test_summary_api_states_power_coverage(settings: Settings, db: Database) -> None:
    async with FleetSimulator(8, use_ports=True, families=FAMILIES, seed=3) as sim:
        poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
        summary = await poller.sweep()
    from hashinsight_contract.fleet import FleetSummary

    coverage = FleetSummary.model_validate(summary).coverage
    assert coverage is not None and coverage.online == summary["online"]
    reporting = sum(1 for s in poller.states.values() if s.snap and s.snap.power_w is not None)
    assert coverage.power_measured == reporting
