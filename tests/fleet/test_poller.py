"""The poller against the loopback simulator: sweeps, plans, backoff, events, scheduling."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.inventory import MinerSpec
from backend.fleet.poller import GC_YOUNG_THRESHOLD, PLANS, tune_gc
from backend.settings import Settings
from backend.sim.fleet import FAMILIES, Fault, FleetSimulator
from hashinsight_contract.fleet import FleetSummary
from tests.fleet.fleet_helpers import drain, make_poller, specs_for
from tests.helpers import eventually, free_port


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(8, use_ports=True, families=FAMILIES, seed=3) as fleet:
        yield fleet


async def test_sweep_polls_every_family_and_learns_one_request_plans(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    bus = EventBus()
    poller = make_poller(settings, db, bus, ManualClock(), specs_for(sim))
    summary = await poller.sweep()
    assert summary["total"] == summary["online"] == 8
    assert {s.family for s in poller.states.values()} == set(FAMILIES)
    models = {poller.miner_data(s)["model"] for s in poller.states.values()}
    assert {"Antminer S19 Pro", "Whatsminer M31SV10", "Antminer S19j Pro"} <= models
    first = "version+summary+pools+stats+devs+devdetails"
    for miner in sim.miners:  # two connections at most on first contact, the probe first
        assert next(iter(miner.requests)) == first and len(miner.requests) <= 2, miner.requests
        if miner.family == "whatsminer":  # devdetails came with the probe; get_version alone
            assert list(miner.requests) == [first, "get_version"]
        miner.requests.clear()
    await poller.sweep()
    for miner in sim.miners:  # exactly one connection per miner, with its family's plan
        assert list(miner.requests) == ["+".join(PLANS[miner.family])]
    whatsminer = next(s for s in poller.states.values() if s.family == "whatsminer")
    assert poller.miner_data(whatsminer)["firmware"] == "20210322.22.REL"


async def test_events_only_for_changed_miners_and_one_sweep_event(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    bus = EventBus()
    subscription = bus.subscribe(["miners"], maxsize=10_000)
    clock = ManualClock()
    poller = make_poller(settings, db, bus, clock, specs_for(sim))
    await poller.sweep()
    first = drain(subscription)
    assert [e.type for e in first].count("miner.update") == 8
    assert [e.type for e in first][-1] == "fleet.sweep"
    await sim.miners[2].set_fault(Fault.OFFLINE)
    clock.advance(1.0)
    await poller.sweep()
    second = drain(subscription)
    updates = [e.data for e in second if e.type == "miner.update"]
    assert "m2" in {u["id"] for u in updates}
    assert len(updates) < 8  # jitter alone is not a change
    offline = next(u for u in updates if u["id"] == "m2")
    assert offline["status"] == "offline" and offline["error"] == "connection refused"
    assert "boards" not in offline and "pools" not in offline  # the summary form
    sweeps = [e.data for e in second if e.type == "fleet.sweep"]
    assert len(sweeps) == 1 and sweeps[0]["offline"] == 1


async def test_unreachable_miner_backs_off_then_recovers(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    clock = ManualClock()
    poller = make_poller(settings, db, EventBus(), clock, specs_for(sim))
    await sim.miners[1].set_fault(Fault.OFFLINE)
    polled: list[int] = []
    for _ in range(6):
        summary = await poller.sweep()
        polled.append(summary["sweep"]["miners"])
        clock.advance(1.0)
    # failures 1, 2, 3 -> next poll after 1, 2, 4 sweep intervals
    assert polled == [8, 8, 7, 8, 7, 7]
    await sim.miners[1].clear_fault(Fault.OFFLINE)
    poller.request_poll("m1")  # what a command does: poll at the next sweep, no backoff
    summary = await poller.sweep()
    assert summary["online"] == 8 and poller.states["m1"].failures == 0


async def test_a_hung_miner_costs_one_timeout_not_the_sweep(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
    await sim.miners[0].set_fault(Fault.HANG)
    started = time.monotonic()
    await poller.sweep()
    assert time.monotonic() - started < 2.0
    data = poller.miner_data(poller.states["m0"])
    assert data["status"] == "error" and data["error"].startswith("timeout after 0.5s")
    assert sum(s.status == "online" for s in poller.states.values()) == 7


async def test_thousands_of_known_miners_failing_at_once_are_each_reported(
    settings: Settings, db: Database
) -> None:
    """A plan's exchange can fail inside its own start (a refused connect): the sweep keeps
    starting the next ones in a loop, not by recursion, whatever the count."""
    port = free_port()  # nothing listens there
    specs = [MinerSpec(id=f"dead{i}", host="127.0.0.1", port=port) for i in range(3000)]
    poller = make_poller(settings, db, EventBus(), ManualClock(), specs, fleet_concurrency=256)
    for state in poller.states.values():
        state.family = "antminer"  # as if learnt in an earlier sweep
    await poller.sweep()
    data = [poller.miner_data(state) for state in poller.states.values()]
    assert len(data) == 3000
    assert {(d["status"], d["error"]) for d in data} == {("offline", "connection refused")}


async def test_a_cancelled_sweep_resets_the_polls_in_flight(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
    await poller.sweep()  # every family learnt: the next sweep is callback-driven exchanges
    for miner in sim.miners:
        await miner.set_fault(Fault.HANG)
    sweep = asyncio.create_task(poller.sweep())
    await eventually(lambda: sum(m.open_connections for m in sim.miners) == len(sim.miners))
    sweep.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sweep
    await eventually(  # reset at once, not left to their read timeout
        lambda: sum(m.open_connections for m in sim.miners) == 0, within_s=0.3
    )


async def test_sweeps_never_overlap_and_rearm_after_each(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
    poller.interval_s = 0.05  # shorter than a sweep with a hung miner (0.5 s timeout)
    await sim.miners[3].set_fault(Fault.HANG)
    spans: list[tuple[float, float]] = []
    original = poller._sweep

    async def timed() -> dict[str, object]:
        begin = time.monotonic()
        try:
            return await original()
        finally:
            spans.append((begin, time.monotonic()))

    poller._sweep = timed  # type: ignore[method-assign]
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(1.6)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(spans) >= 2
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end


async def test_summary_economics_use_hashprice_and_power_price(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    class Chain:
        name = "chain"

        def stats(self) -> dict[str, float]:
            return {"hashprice_usd_per_th_day": 0.05}

    poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
    poller._services = lambda: {"chain": Chain()}
    summary = await poller.sweep()
    assert summary["hashprice_usd_per_th_day"] == 0.05
    miner = poller.miner_data(next(s for s in poller.states.values() if s.family == "whatsminer"))
    rate = miner["hashrate_avg_ths"]
    assert miner["revenue_usd_day"] == pytest.approx(rate * 0.05, rel=1e-3)
    assert miner["cost_usd_day"] == pytest.approx(miner["power_w"] / 1000 * 24 * 0.06, rel=1e-3)
    assert miner["profit_usd_day"] == pytest.approx(
        miner["revenue_usd_day"] - miner["cost_usd_day"], abs=1e-3
    )
    antminer = poller.miner_data(next(s for s in poller.states.values() if s.family == "antminer"))
    assert antminer["power_w"] is None and antminer["cost_usd_day"] is None  # never a made-up 0
    poller._services = dict
    assert (await poller.sweep())["revenue_usd_day"] is None  # no hashprice, no revenue


async def test_a_stale_hashprice_is_marked_and_an_hour_old_one_prices_nothing(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    """Every price provider down: the chain service keeps serving its last hashprice, marked
    stale. The summary says so and when it was true; past an hour it prices nothing."""
    clock = ManualClock()
    inputs_at = clock.time() - 480

    class Chain:
        name = "chain"

        def stats(self) -> dict[str, Any]:
            detail = {"as_of": inputs_at, "stale": True, "usd_per_th_day": 0.05}
            return {"hashprice_usd_per_th_day": 0.05, "hashprice": detail}

    poller = make_poller(settings, db, EventBus(), clock, specs_for(sim))
    poller._services = lambda: {"chain": Chain()}
    summary = await poller.sweep()
    assert summary["hashprice_usd_per_th_day"] == 0.05 and summary["revenue_usd_day"]
    assert summary["hashprice_stale"] is True and summary["hashprice_as_of"] == inputs_at
    FleetSummary.model_validate(summary)  # the API's model takes it as it is
    # With its inputs given, the age is the BTC price's: network figures are as of the tip
    # block, which a healthy chain leaves an hour old now and then.
    live = {"via": "live", "stale": False}
    inputs = {
        "price_usd": {**live, "as_of": clock.time() - 20},
        "network_hashrate_hs": {**live, "as_of": clock.time() - 4000},
        "tip_height": {**live, "as_of": clock.time() - 4000},
    }
    chain_stats = {"as_of": clock.time() - 4000, "stale": True, "inputs": inputs}
    Chain.stats = lambda self: {"hashprice_usd_per_th_day": 0.05, "hashprice": chain_stats}  # type: ignore[method-assign]
    summary = await poller.sweep()
    assert summary["hashprice_usd_per_th_day"] == 0.05 and summary["hashprice_stale"] is False
    assert summary["hashprice_as_of"] == clock.time() - 20
    inputs["tip_height"] = {**live, "via": "cache", "as_of": clock.time() - 4000}
    assert (await poller.sweep())["hashprice_stale"] is True  # a provider stopped: marked
    Chain.stats = lambda self: {  # type: ignore[method-assign]
        "hashprice_usd_per_th_day": 0.05,
        "hashprice": {"as_of": inputs_at, "stale": True},
    }
    clock.advance(3600)
    summary = await poller.sweep()
    assert summary["hashprice_usd_per_th_day"] is None and summary["revenue_usd_day"] is None
    assert summary["profit_usd_day"] is None and summary["hashprice_as_of"] == inputs_at
    assert all(poller.miner_data(s)["revenue_usd_day"] is None for s in poller.states.values())


def test_tune_gc_raises_the_young_threshold_and_never_lowers_one() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert tune_gc() == (GC_YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(GC_YOUNG_THRESHOLD * 5, 20, 30)
        assert tune_gc() == (GC_YOUNG_THRESHOLD * 5, 20, 30)
        gc.set_threshold(0)  # collection switched off on purpose stays off
        assert tune_gc()[0] == 0
    finally:
        gc.set_threshold(*saved)


async def test_a_dark_miner_keeps_its_model_and_firmware_but_no_readings(
    settings: Settings, db: Database, sim: FleetSimulator
) -> None:
    clock = ManualClock()
    poller = make_poller(settings, db, EventBus(), clock, specs_for(sim))
    await poller.sweep()
    index = next(m.index for m in sim.miners if m.family == "antminer")
    state = poller.states[f"m{index}"]
    before = poller.miner_data(state)
    await sim.miners[index].set_fault(Fault.OFFLINE)
    clock.advance(10)
    await poller.sweep()
    after = poller.miner_data(state)
    assert after["status"] == "offline" and after["hashrate_ths"] is None
    assert (after["model"], after["firmware"]) == (before["model"], before["firmware"])
    assert after["model"] == "Antminer S19 Pro"
