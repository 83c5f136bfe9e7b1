"""Plain cgminer driver against the simulator: devdetails as cgminer 4.11 answers it, RPC writes
read back, the firmware refusing, timeouts and a reply in the wrong dialect."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from backend.fleet.drivers import DriverRegistry, Outcome
from backend.fleet.drivers.cgminer import CgminerRpcDriver
from backend.sim.fleet import Fault, FleetSimulator
from tests.fleet.fleet_helpers import identified, quick_context


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 cgminer with W: access, m1 cgminer read-only (--api-allow R:0/0)
    async with FleetSimulator(
        2, use_ports=True, families=["cgminer"], read_only=[1], restart_downtime_s=3.0
    ) as fleet:
        yield fleet


async def test_devdetails_is_answered_like_cgminer_4_11(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    reply = await target.client.command("devdetails")
    assert reply["STATUS"][0]["Code"] == 69 and reply["STATUS"][0]["Msg"] == "Device Details"
    rows = reply["DEVDETAILS"]
    assert len(rows) == 3
    assert set(rows[0]) == {"DEVDETAILS", "Name", "ID", "Driver", "Kernel", "Model", "Device Path"}


async def test_pool_switch_sleep_and_restart_are_read_back(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert isinstance(driver, CgminerRpcDriver)
    assert driver.capabilities(target)["work_mode"].supported is False
    switched = await driver.run(target, "switchpool", {"pool": 2})
    assert switched.state == "succeeded"
    assert await driver.verify(target, "switchpool", {"pool": 2}, switched) == (
        "verified: pool stratum+tcp://btc.sim-failover.example:700 (user hashinsight.r00m00) "
        "is the active pool"
    )
    asleep = await driver.run(target, "sleep", {})
    assert await driver.verify(target, "sleep", {}, asleep) == (
        "verified: the miner stopped hashing"
    )
    light = await driver.run(target, "fault_light", {"on": True})
    assert light.state == "refused" and "not supported by this firmware" in light.result
    reboot = await driver.run(target, "restart", {})
    assert reboot.state == "succeeded" and reboot.before.get("uptime_s") is not None
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )


async def test_a_switch_that_does_not_show_is_sent_not_verified(sim: FleetSimulator) -> None:
    await sim.miners[0].set_fault(Fault.DEAD_POOL, pool=1)  # the pool we switch to is dead
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(verify_timeout_s=0.5)).driver_for(target)
    switched = await driver.run(target, "switchpool", {"pool": 1})
    assert switched.state == "succeeded"
    verdict = await driver.verify(target, "switchpool", {"pool": 1}, switched)
    assert verdict.startswith("sent, not verified: the miner's pools did not show the change")
    assert "active pool: stratum+tcp://btc.sim-pool.example:3333" in verdict


async def test_a_read_only_api_refuses(sim: FleetSimulator) -> None:
    target = await identified(sim, 1)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "restart", {})
    assert outcome.state == "refused" and "access denied" in outcome.result
    assert sim.miners[1].listening


async def test_a_hung_miner_costs_one_timeout(sim: FleetSimulator) -> None:
    target = await identified(sim, 0, timeout_s=0.5)
    await sim.miners[0].set_fault(Fault.HANG)
    driver = DriverRegistry(quick_context()).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "switchpool", {"pool": 1})
    assert outcome.state == "failed" and "timeout" in outcome.result
    assert time.monotonic() - started < 5.0


async def test_garbage_is_a_failure_not_a_success(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    await sim.miners[0].set_fault(Fault.GARBAGE)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed" and not sim.miners[0].sleeping


async def test_a_reboot_is_verified_by_the_uptime_not_by_going_dark(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    quick = DriverRegistry(quick_context(verify_timeout_s=1.0)).driver_for(target)
    reboot = await quick.run(target, "restart", {})
    assert reboot.state == "succeeded" and reboot.before.get("uptime_s") is not None
    assert await quick.verify(target, "restart", {}, reboot) == (
        "sent, not verified: the miner went dark and was not seen back within 1s"
    )
    # not answering before the command either: back with an uptime younger than the wait
    driver = DriverRegistry(quick_context()).driver_for(target)
    unseen = replace(reboot, before={})
    assert (await driver.verify(target, "restart", {}, unseen)).startswith(
        "verified: the miner is back up"
    )


async def test_a_hung_miner_going_dark_is_not_a_reboot(sim: FleetSimulator) -> None:
    target = await identified(sim, 0, timeout_s=0.3)
    await sim.miners[0].set_fault(Fault.HANG)  # accepts, never answers
    driver = DriverRegistry(quick_context(verify_timeout_s=1.0)).driver_for(target)
    sent = Outcome("succeeded", "restarting", None, {})  # the uptime before was not read
    assert await driver.verify(target, "restart", {}, sent) == (
        "sent, not verified: the miner's RPC answered neither before the restart nor within 1s "
        "after it"
    )


async def test_two_accounts_on_one_pool_url_are_told_apart(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(verify_timeout_s=1.0)).driver_for(target)
    url, worker = miner.pools[0].url, miner.pools[0].user
    params = {"url": url, "user": "customer.worker1", "password": "x"}
    added = await driver.run(target, "addpool", params)
    assert await driver.verify(target, "addpool", params, added) == (
        f"verified: pool {url} (user customer.worker1) is listed"
    )
    await miner.set_fault(Fault.DEAD_POOL, pool=3)  # the customer's account is not accepted
    switched = await driver.run(target, "switchpool", {"pool": 3})
    assert switched.state == "succeeded"
    verdict = await driver.verify(target, "switchpool", {"pool": 3}, switched)
    assert verdict == (
        "sent, not verified: the miner's pools did not show the change within 1s; "
        f"active pool: {url} (user {worker})"
    )
    await miner.clear_fault(Fault.DEAD_POOL)
    assert await driver.verify(target, "switchpool", {"pool": 3}, switched) == (
        f"verified: pool {url} (user customer.worker1) is the active pool"
    )
    removed = await driver.run(target, "removepool", {"pool": 3})
    assert await driver.verify(target, "removepool", {"pool": 3}, removed) == (
        f"verified: pool {url} (user customer.worker1) is no longer listed"
    )
