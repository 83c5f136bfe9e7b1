"""Vnish driver against the simulated Vnish web API: unlock token, every action read back,
wrong password remembered, a stale token renewed once, the firmware refusing, timeouts and a
web interface of another dialect."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from backend.core.db import Database
from backend.fleet.client import poll
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import DriverRegistry, identify
from backend.fleet.drivers.antminer import AntminerWebDriver
from backend.fleet.drivers.registry import DIALECT_VNISH
from backend.fleet.drivers.vnish import VnishDriver
from backend.sim.fleet import FleetSimulator
from backend.sim.vnish_web import VnishWebServer
from tests.fleet.fleet_helpers import identified, quick_context

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UNLOCK = "POST /api/v1/unlock"


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 Vnish, m1 stock Antminer (its digest CGI is the wrong dialect for the Vnish driver)
    async with FleetSimulator(
        2,
        use_ports=True,
        families=["vnish", "antminer"],
        web_port=0,
        restart_downtime_s=3.0,
    ) as fleet:
        yield fleet


def vnish_web(sim: FleetSimulator) -> VnishWebServer:
    web = sim.miners[0].web
    assert isinstance(web, VnishWebServer)
    return web


async def test_the_polled_identification_picks_the_vnish_driver(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    snap = await poll(miner.host, miner.port)
    # the firmware names itself in STATS' Type: the model and the firmware are told apart
    assert (snap.model, snap.firmware) == ("Antminer S19j Pro", "Vnish 1.2.6")
    target = await identified(sim, 0)
    assert target.family == "antminer"  # bmminer's RPC underneath
    assert identify(target.family, target.firmware, target.model) == DIALECT_VNISH
    registry = DriverRegistry(quick_context())
    assert isinstance(registry.driver_for(target), VnishDriver)
    stock = await identified(sim, 1)
    assert isinstance(registry.driver_for(stock), AntminerWebDriver)


async def test_pools_through_the_settings_are_applied_and_read_back(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    web = vnish_web(sim)
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)

    switched = await driver.run(target, "switchpool", {"pool": 2})
    assert switched.state == "succeeded", switched.result
    assert switched.result.endswith("saved, miner software restarted to apply it")
    check = await driver.verify(target, "switchpool", {"pool": 2}, switched)
    assert check == "verified: pool stratum+tcp://btc.sim-failover.example:700 is the active pool"
    active = miner.active_pool()
    assert active is not None and active.url.endswith(":700")
    assert web.requests[-2:] == ["POST /api/v1/settings", "POST /api/v1/mining/restart"]

    full = await driver.run(target, "addpool", {"url": "stratum+tcp://x:1", "user": "u"})
    assert full.state == "refused" and "at most 3 pools" in full.result
    removed = await driver.run(target, "removepool", {"pool": 1})
    assert removed.state == "succeeded", removed.result
    assert "is no longer listed" in await driver.verify(target, "removepool", {"pool": 1}, removed)
    params = {"url": "stratum+tcp://solo.example:3333", "user": "w1", "password": "p"}
    added = await driver.run(target, "addpool", params)
    assert added.state == "succeeded", added.result
    check = await driver.verify(target, "addpool", params, added)
    assert check == "verified: pool stratum+tcp://solo.example:3333 (user w1) is listed"
    assert [p.url for p in miner.pools][-1] == "stratum+tcp://solo.example:3333"
    assert not any(r.startswith(("switchpool", "addpool", "removepool")) for r in miner.requests)
    assert web.requests.count(UNLOCK) == 1  # one token served every call


async def test_sleep_light_preset_and_reboot_are_read_back(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    web = vnish_web(sim)
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)

    asleep = await driver.run(target, "sleep", {})
    assert asleep.state == "succeeded" and miner.sleeping
    check = await driver.verify(target, "sleep", {}, asleep)
    assert check == "verified: the miner stopped mining (state stopped)"
    assert miner.current_ths() == 0.0
    awake = await driver.run(target, "wake", {})
    assert await driver.verify(target, "wake", {}, awake) == "verified: mining again (state mining)"
    assert miner.current_ths() > 50

    light = await driver.run(target, "fault_light", {"on": True})
    assert light.state == "succeeded" and miner.blinking
    assert await driver.verify(target, "fault_light", {"on": True}, light) == (
        "verified: the fault light is blinking"
    )
    again = await driver.run(target, "fault_light", {"on": True})
    assert again.result == "fault light already blinking" and miner.blinking  # no toggle off
    off = await driver.run(target, "fault_light", {"on": False})
    assert off.state == "succeeded" and not miner.blinking
    assert web.requests.count("POST /api/v1/find-miner") == 2

    low = await driver.run(target, "work_mode", {"mode": "low_power"})
    assert low.state == "succeeded", low.result
    assert low.result.startswith("work mode low_power: preset 2100 (2100 watt ~ 78 TH)")
    assert web.running_preset == "2100"
    check = await driver.verify(target, "work_mode", {"mode": "low_power"}, low)
    assert check == "verified: running preset 2100"
    normal = await driver.run(target, "work_mode", {"mode": "normal"})
    check = await driver.verify(target, "work_mode", {"mode": "normal"}, normal)
    assert check == "verified: running preset disabled"
    sent = len(web.requests)
    profile = await driver.run(target, "work_mode", {"mode": "475MHz"})  # a LuxOS profile name
    assert profile.state == "refused" and "its modes: normal, low_power" in profile.result
    assert len(web.requests) == sent and web.running_preset == "disabled"  # nothing sent

    reboot = await driver.run(target, "restart", {})
    assert reboot.state == "succeeded" and reboot.result.startswith("rebooting in 3s")
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )
    assert web.requests[-1] == "POST /api/v1/system/reboot"


async def test_capabilities_are_honest(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    caps = driver.capabilities(target)
    supported = {name for name, cap in caps.items() if cap.supported}
    assert supported == {
        "restart",
        "switchpool",
        "addpool",
        "removepool",
        "sleep",
        "wake",
        "fault_light",
        "work_mode",
    }
    assert "no per-pool enable switch" in str(caps["enablepool"].reason)
    refused = await driver.run(target, "disablepool", {"pool": 0})
    assert refused.state == "refused" and "no per-pool enable switch" in refused.result
    assert vnish_web(sim).requests == []  # nothing was sent


async def test_wrong_password_is_refused_once_and_remembered(
    sim: FleetSimulator, database: Database
) -> None:
    web = vnish_web(sim)
    web.password = "changed-on-site"
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    context = quick_context(credentials=store)
    target = await identified(sim, 0)
    driver = DriverRegistry(context).driver_for(target)

    first = await driver.run(target, "sleep", {})
    assert first.state == "refused"
    assert first.result.startswith("refused: wrong credentials for m0 (vnish, factory default")
    assert web.unauthorized == 1 and web.requests == [UNLOCK]
    again = await driver.run(target, "wake", {})
    assert again.state == "refused" and "not tried again" in again.result
    assert web.unauthorized == 1 and web.requests == [UNLOCK]  # the miner was not asked again
    assert not sim.miners[0].sleeping

    await store.set(
        scope="miner",
        target="m0",
        kind="vnish",
        username=None,
        password="changed-on-site",
        port=None,
        actor="test",
        now=NOW,
    )
    fixed = await driver.run(target, "sleep", {})
    assert fixed.state == "succeeded" and sim.miners[0].sleeping
    listed = await store.list()
    assert listed[0].password == "********" and "changed-on-site" not in str(listed)
    assert "changed-on-site" not in repr(await store.resolve("m0", "A", "vnish"))


async def test_a_stale_token_is_renewed_once_not_in_a_loop(sim: FleetSimulator) -> None:
    web = vnish_web(sim)
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert (await driver.run(target, "sleep", {})).state == "succeeded"
    web.expire_tokens()  # the firmware's unlock timeout passed
    woke = await driver.run(target, "wake", {})
    assert woke.state == "succeeded" and not sim.miners[0].sleeping
    assert web.requests.count(UNLOCK) == 2 and web.unauthorized == 1

    web.token_ttl_s = 0.0  # from now on every token is stale as soon as it is issued
    web.expire_tokens()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert "refused the token it had just issued for /api/v1/mining/stop" in outcome.result
    assert web.requests.count(UNLOCK) == 3 and web.unauthorized == 3  # one renewal, then stop
    assert not sim.miners[0].sleeping


async def test_the_firmware_refusing_a_change(sim: FleetSimulator) -> None:
    web = vnish_web(sim)
    web.fault = "refuse"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    stop = await driver.run(target, "sleep", {})
    assert stop.state == "refused"
    assert stop.result == (
        "refused: the miner rejected mining/stop: CGMiner err: Cgminer error "
        "failed-to-activate-pause-mode"
    )
    switched = await driver.run(target, "switchpool", {"pool": 1})
    assert switched.state == "refused"
    assert switched.result.startswith("refused: the miner rejected settings: Failed to save")
    missing = await driver.run(target, "switchpool", {"pool": 7})
    assert missing.state == "refused" and "pool 7 does not exist" in missing.result
    assert not sim.miners[0].sleeping and web.requests.count("POST /api/v1/settings") == 1


async def test_a_web_api_that_never_answers_costs_one_timeout(sim: FleetSimulator) -> None:
    vnish_web(sim).fault = "hang"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(web_timeout_s=0.5)).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed" and "within 0.5s" in outcome.result
    assert time.monotonic() - started < 5.0
    assert not sim.miners[0].sleeping


async def test_another_dialect_is_a_clear_failure_not_a_success(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    stock = sim.miners[1].web
    assert stock is not None and stock.port != target.web_port
    target.web_port = stock.port  # a stock Antminer's digest-protected CGI
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert "asks for HTTP digest auth on /api/v1/unlock" in outcome.result
    assert "stock Antminer web interface, not Vnish?" in outcome.result

    target.web_port = vnish_web(sim).port
    vnish_web(sim).fault = "html"  # some other web server in front
    html = await driver.run(target, "fault_light", {"on": True})
    assert html.state == "failed"
    assert html.result.startswith("unexpected reply: HTTP 404 on /api/v1/status")
    assert not sim.miners[0].sleeping and not sim.miners[0].blinking


async def test_a_reboot_met_with_silence_is_not_called_sent(sim: FleetSimulator) -> None:
    """A hung Vnish takes the reboot and never answers: that is no evidence the reboot began,
    so it is a failure (no reboot window holds the miner's offline alerts)."""
    miner = sim.miners[0]
    web = vnish_web(sim)
    web.fault = "reboot_hang"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(web_timeout_s=1.0)).driver_for(target)
    reboot = await driver.run(target, "restart", {})
    assert reboot.state == "failed", reboot
    assert reboot.result.startswith("reboot sent, not confirmed: no reply from")
    assert reboot.result.endswith("(the miner may be hung)")
    assert not miner.restarting
