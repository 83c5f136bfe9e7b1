"""Stock Antminer driver against the simulated web CGI: digest auth, configuration writes read
back, wrong credentials remembered, the firmware refusing, timeouts, a foreign web server, and a
reboot told apart from a hung miner (dropped connection: sent; silence: not confirmed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.fernet import Fernet

from backend.core.db import Database
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import DriverRegistry
from backend.fleet.drivers.antminer import AntminerWebDriver
from backend.sim.fleet import FleetSimulator
from tests.fleet.fleet_helpers import identified, quick_context

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 stock Antminer with a read-only RPC (the factory setting); m1 Braiins OS (gRPC, elsewhere)
    async with FleetSimulator(
        2,
        use_ports=True,
        families=["antminer", "braiins"],
        read_only=[0],
        web_port=0,
        restart_downtime_s=3.0,
    ) as fleet:
        yield fleet


async def test_pools_sleep_light_and_reboot_through_the_cgi_are_read_back(
    sim: FleetSimulator,
) -> None:
    miner = sim.miners[0]
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert isinstance(driver, AntminerWebDriver)
    assert "chain_rate1" in str(miner._stats())  # the per-chain rates the normaliser reads

    switched = await driver.run(target, "switchpool", {"pool": 2})
    assert switched.state == "succeeded", switched.result
    check = await driver.verify(target, "switchpool", {"pool": 2}, switched)
    assert check == (
        "verified: pool stratum+tcp://btc.sim-failover.example:700 (user hashinsight.r00m00) "
        "is the active pool"
    )
    assert miner.active_pool() is not None and miner.active_pool().url.endswith(":700")
    # the whole configuration went back: three slots, the old pools kept after the new first
    assert [p.url for p in sorted(miner.pools, key=lambda p: p.priority)][1:] == [
        "stratum+tcp://btc.sim-pool.example:3333",
        "stratum+tcp://btc-backup.sim-pool.example:443",
    ]

    asleep = await driver.run(target, "sleep", {})
    assert asleep.state == "succeeded" and miner.sleeping and miner.work_mode == 1
    assert await driver.verify(target, "sleep", {}, asleep) == "verified: work mode is sleep"
    low = await driver.run(target, "work_mode", {"mode": "low_power"})
    assert await driver.verify(target, "work_mode", {}, low) == "verified: work mode is low_power"
    profile = await driver.run(target, "work_mode", {"mode": "475MHz"})  # a LuxOS profile name
    assert profile.state == "refused" and profile.result == (
        "refused: stock Antminer (web CGI) has no work mode '475MHz'; its modes: normal, low_power"
    )
    assert miner.work_mode == 3
    light = await driver.run(target, "fault_light", {"on": True})
    assert light.state == "succeeded" and miner.blinking
    assert "blinking" in await driver.verify(target, "fault_light", {"on": True}, light)

    reboot = await driver.run(target, "restart", {})
    assert reboot.state == "succeeded"
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )
    assert miner.web is not None
    assert miner.web.requests[-1] == "GET reboot"
    assert not any("switchpool" in r for r in miner.requests)  # nothing through the RPC


async def test_capabilities_are_honest_per_firmware(sim: FleetSimulator) -> None:
    registry = DriverRegistry(quick_context())
    antminer = await identified(sim, 0)
    caps = registry.driver_for(antminer).capabilities(antminer)
    assert caps["restart"].supported and caps["sleep"].supported and caps["work_mode"].supported
    assert not caps["enablepool"].supported and "enable switch" in str(caps["enablepool"].reason)
    braiins = await identified(sim, 1)
    driver = registry.driver_for(braiins)
    assert driver.name == "braiins"  # not the web CGI: its own driver (test_drivers_braiins.py)
    assert {c.supported for c in driver.capabilities(braiins).values()} == {True}


async def test_wrong_password_is_refused_once_and_remembered(
    sim: FleetSimulator, database: Database
) -> None:
    web = sim.miners[0].web
    assert web is not None
    web.password = "changed-on-site"
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    context = quick_context(credentials=store)
    target = await identified(sim, 0)
    driver = DriverRegistry(context).driver_for(target)

    first = await driver.run(target, "sleep", {})
    assert first.state == "refused"
    assert first.result.startswith("refused: wrong credentials for m0 (web, factory default")
    assert web.unauthorized == 1  # one try: httpx never retries a digest that failed
    again = await driver.run(target, "wake", {})
    assert again.state == "refused" and "not tried again" in again.result
    assert web.unauthorized == 1  # remembered: the miner was not asked again

    await store.set(
        scope="site",
        target="A",
        kind="web",
        username="root",
        password="changed-on-site",
        port=None,
        actor="test",
        now=NOW,
    )
    fixed = await driver.run(target, "sleep", {})
    assert fixed.state == "succeeded" and sim.miners[0].sleeping
    listed = await store.list()
    assert listed[0].password == "********" and "changed-on-site" not in str(listed)


async def test_the_firmware_refusing_a_change(sim: FleetSimulator) -> None:
    web = sim.miners[0].web
    assert web is not None
    web.fault = "refuse"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "switchpool", {"pool": 1})
    assert outcome.state == "refused"
    assert outcome.result == (
        "refused: the miner rejected set_miner_conf.cgi (M002 Configuration locked)"
    )
    missing = await driver.run(target, "switchpool", {"pool": 7})
    assert missing.state == "refused" and "pool 7 does not exist" in missing.result
    full = await driver.run(target, "addpool", {"url": "stratum+tcp://x:1", "user": "u"})
    assert full.state == "refused" and "at most 3 pools" in full.result


async def test_a_web_interface_that_never_answers_costs_one_timeout(sim: FleetSimulator) -> None:
    web = sim.miners[0].web
    assert web is not None
    web.fault = "hang"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(web_timeout_s=0.5)).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed" and "within 0.5s" in outcome.result
    assert time.monotonic() - started < 5.0


async def test_a_foreign_web_server_is_a_wrong_dialect_not_a_success(
    sim: FleetSimulator,
) -> None:
    web = sim.miners[0].web
    assert web is not None
    web.fault = "html"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert outcome.result.startswith("unexpected reply: HTTP 404 on /cgi-bin/get_miner_conf.cgi")
    target.web_port = sim.miners[1].port  # an RPC port: not HTTP at all
    nothing_there = await driver.run(target, "sleep", {})
    assert nothing_there.state == "failed" and not sim.miners[0].sleeping


async def test_a_reboot_dropped_on_the_request_is_sent_and_read_back_by_the_uptime(
    sim: FleetSimulator,
) -> None:
    miner = sim.miners[0]
    assert miner.web is not None
    miner.web.fault = "reboot_drop"  # reboot.cgi reboots before lighttpd answers
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    reboot = await driver.run(target, "restart", {})
    assert (reboot.state, reboot.result) == (
        "succeeded",
        "reboot sent (the miner dropped the connection)",
    )
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )


async def test_a_reboot_that_never_connected_is_a_failure(sim: FleetSimulator) -> None:
    def no_connection(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    target = await identified(sim, 0)
    http = httpx.AsyncClient(transport=httpx.MockTransport(no_connection))
    driver = DriverRegistry(quick_context(http=http)).driver_for(target)
    try:
        reboot = await driver.run(target, "restart", {})
    finally:
        await http.aclose()
    assert reboot.state == "failed"
    assert reboot.result == (
        f"web interface {target.host}:{target.web_port} unreachable: no connection within 3s"
    )
    assert not sim.miners[0].restarting
