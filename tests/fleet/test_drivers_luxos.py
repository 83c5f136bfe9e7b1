"""LuxOS driver against the simulated LuxOS: sessions (ours, and one already active), writes
read back, a logon password, the firmware refusing, timeouts, tuning profiles as work modes and
a miner that is not LuxOS."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.codec import section_rows
from backend.fleet.commands import CommandError, FleetCommands, validate
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import DriverRegistry
from backend.fleet.drivers.base import MinerTarget, Outcome
from backend.fleet.drivers.luxos import LuxosDriver
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from tests.fleet.fleet_helpers import identified, make_poller, quick_context, specs_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 LuxOS on an Antminer, m1 plain cgminer
    async with FleetSimulator(
        2, use_ports=True, families=["luxos", "cgminer"], restart_downtime_s=3.0
    ) as fleet:
        yield fleet


async def test_writes_carry_a_session_that_is_ended_and_are_read_back(
    sim: FleetSimulator,
) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    target = await identified(sim, 0)
    assert target.firmware is not None and target.firmware.startswith("LUXminer")
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert isinstance(driver, LuxosDriver)
    assert driver.capabilities(target)["work_mode"].supported is True

    asleep = await driver.run(target, "sleep", {})
    assert asleep.state == "succeeded" and miner.sleeping
    assert await driver.verify(target, "sleep", {}, asleep) == (
        "verified: the miner stopped hashing"
    )
    session = next(r for r in miner.requests if r.startswith("curtail|"))
    assert session.endswith(",sleep") and len(session.split("|")[1].split(",")[0]) == 16
    assert miner.lux.session_id is None  # logged off after the write

    awake = await driver.run(target, "wake", {})
    assert (await driver.verify(target, "wake", {}, awake)).startswith("verified: hashing again")
    switched = await driver.run(target, "switchpool", {"pool": 1})
    assert switched.state == "succeeded"
    assert "is the active pool" in await driver.verify(target, "switchpool", {"pool": 1}, switched)
    light = await driver.run(target, "fault_light", {"on": True})
    assert await driver.verify(target, "fault_light", {"on": True}, light) == (
        "verified: the red LED is blink"
    )
    reboot = await driver.run(target, "restart", {})
    assert reboot.state == "succeeded" and "rebootdevice|" in miner.requests[-1]
    assert (await driver.verify(target, "restart", {}, reboot)).startswith("verified:")


async def test_a_session_already_active_is_used_and_left_open(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    miner.lux.session_id = "operator-at-desk"
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "succeeded" and miner.sleeping
    assert "(used the LuxOS session already active)" in outcome.result
    assert "curtail|operator-at-desk,sleep" in miner.requests
    assert miner.lux.session_id == "operator-at-desk"  # not ours to log off


async def test_pool_commands_carry_no_session_and_need_no_logon(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    url = "stratum+tcp://n.example:3333"
    steps = [
        ("switchpool", {"pool": 1}, "switchpool|1"),
        ("disablepool", {"pool": 2}, "disablepool|2"),
        ("enablepool", {"pool": 2}, "enablepool|2"),
        ("addpool", {"url": url, "user": "w", "password": "x"}, f"addpool|{url},w,x"),
        ("removepool", {"pool": 3}, "removepool|3"),
    ]
    for action, params, wire in steps:
        miner.requests.clear()
        outcome = await driver.run(target, action, params)
        assert outcome.state == "succeeded", (action, outcome.result)
        assert [r for r in miner.requests if r != "pools"] == [wire]
        assert (await driver.verify(target, action, params, outcome)).startswith("verified:")
    assert miner.lux.session_id is None
    # another tool's session is neither used nor touched by a pool command
    miner.lux.session_id = "operator-at-desk"
    miner.requests.clear()
    outcome = await driver.run(target, "switchpool", {"pool": 0})
    assert outcome.state == "succeeded" and "session" not in outcome.result
    assert [r for r in miner.requests if r != "pools"] == ["switchpool|0"]
    assert miner.lux.session_id == "operator-at-desk"


async def test_a_session_id_on_a_pool_command_is_read_as_the_pool(sim: FleetSimulator) -> None:
    """The simulator answers as LuxOS does: pool commands take no session, so one in front is
    the pool index or URL, and invalid; the guarded writes still need a valid session."""
    miner = sim.miners[0]
    assert miner.lux is not None
    client = (await identified(sim, 0)).client
    urls = [p["URL"] for p in section_rows(await client.command("pools"), "POOLS")]
    sid = section_rows(await client.request("logon"), "SESSION")[0]["SessionID"]
    for command, param, msg in (
        ("switchpool", f"{sid},1", f"Invalid pool id '{sid},1'"),
        ("enablepool", f"{sid},1", f"Invalid pool id '{sid},1'"),
        ("disablepool", f"{sid},1", f"Invalid pool id '{sid},1'"),
        ("removepool", f"{sid},1", f"Invalid pool id '{sid},1'"),
        ("addpool", f"{sid},stratum+tcp://n.example:3333,w,x", f"Invalid pool URL '{sid}'"),
    ):
        reply = await client.request(command, param)
        assert (reply["STATUS"][0]["STATUS"], reply["STATUS"][0]["Msg"]) == ("E", msg)
    assert [p["URL"] for p in section_rows(await client.command("pools"), "POOLS")] == urls
    assert (await client.request("logoff", sid))["STATUS"][0]["STATUS"] == "S"
    for command, param in (("curtail", "sleep"), ("ledset", "red,blink"), ("rebootdevice", None)):
        reply = await client.request(command, param)
        assert reply["STATUS"][0]["Msg"] == "Invalid session id"
    assert not miner.sleeping and miner.lux.red_led == "off"
    reply = await client.request("switchpool", "1")  # no session, no logon: accepted
    assert reply["STATUS"][0]["STATUS"] == "S" and miner.lux.session_id is None


async def test_a_renewed_session_is_the_one_logged_off(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    miner.lux.expire = 1  # the first session times out before the write reaches the miner
    miner.requests.clear()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "succeeded" and miner.sleeping
    writes = [r.split("|")[1].split(",")[0] for r in miner.requests if r.startswith("curtail|")]
    assert [r.split("|")[0] for r in miner.requests] == ["logon", "curtail"] * 2 + ["logoff"]
    assert len(writes) == 2 and writes[0] != writes[1]
    assert miner.requests[-1] == f"logoff|{writes[1]}"  # the session in use, not the expired one
    assert miner.lux.session_id is None  # nothing left open to lock the web UI out


async def store_password(store: CredentialStore) -> None:
    """m0's LuxOS logon, root / lux-secret, as an operator sets it."""
    await store.set(
        scope="miner",
        target="m0",
        kind="luxos",
        username="root",
        password="lux-secret",
        port=None,
        actor="test",
        now=NOW,
    )


async def test_a_logon_password_wrong_then_set(sim: FleetSimulator, database: Database) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    miner.lux.password = "lux-secret"
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    refused = await driver.run(target, "sleep", {})
    assert refused.state == "refused"
    assert refused.result.startswith("refused: wrong credentials for m0 (luxos")
    logons = sum(r.startswith("logon") for r in miner.requests)
    again = await driver.run(target, "sleep", {})
    assert again.state == "refused" and sum(r.startswith("logon") for r in miner.requests) == (
        logons
    )
    await store_password(store)
    done = await driver.run(target, "sleep", {})
    assert done.state == "succeeded" and miner.sleeping


async def test_a_pool_command_needs_no_readable_credential(
    sim: FleetSimulator, database: Database
) -> None:
    """A stored LuxOS password this backend cannot decrypt (its key was replaced) refuses the
    guarded writes, which log on; a pool command logs on to nothing and goes ahead."""
    written = CredentialStore(database, Fernet(Fernet.generate_key()))
    await store_password(written)
    unreadable = CredentialStore(database, Fernet(Fernet.generate_key()))
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context(credentials=unreadable)).driver_for(target)
    refused = await driver.run(target, "sleep", {})
    assert refused.state == "refused", refused
    switched = await driver.run(target, "switchpool", {"pool": 1})
    assert switched.state == "succeeded", switched


async def test_the_firmware_refusing_a_write(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    miner.lux.refuse = True
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "refused"
    assert outcome.result == (
        "refused: the miner rejected curtail: curtail is disabled by the site policy"
    )
    assert miner.lux.session_id is None and not miner.sleeping


async def test_a_hung_miner_costs_one_timeout(sim: FleetSimulator) -> None:
    target = await identified(sim, 0, timeout_s=0.5)
    await sim.miners[0].set_fault(Fault.HANG)
    driver = DriverRegistry(quick_context()).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "restart", {})
    assert outcome.state == "failed" and "timeout" in outcome.result
    assert time.monotonic() - started < 5.0


async def test_a_miner_that_is_not_luxos_is_told_apart(sim: FleetSimulator) -> None:
    target = await identified(sim, 1)
    driver = LuxosDriver(quick_context())  # as if misidentified
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert outcome.result == (
        "unexpected reply: the miner does not know LuxOS's logon (not LuxOS?)"
    )


async def test_luxos_stays_identified_on_the_poller_s_joined_plan(
    sim: FleetSimulator, settings: Settings, database: Database
) -> None:
    poller = make_poller(settings, database, EventBus(), ManualClock(), specs_for(sim))
    await poller.sweep()
    await poller.sweep()  # the second sweep asks the family's plan, without `version`
    state = poller.states["m0"]
    assert state.snap is not None and str(state.snap.firmware).startswith("LUXminer")
    commands = FleetCommands(database, poller, ManualClock(), 2, context=quick_context())
    assert commands.capabilities("m0")["work_mode"].supported is True
    assert commands.capabilities("m1")["work_mode"].supported is False  # plain cgminer


# ---------------------------------------------------------------------- work modes (profiles)


async def _hashrate_ghs(target: MinerTarget) -> float:
    rows = section_rows(await target.client.command("summary"), "SUMMARY")
    return float(rows[0]["GHS 5s"])


async def _watts(target: MinerTarget) -> int:
    return int(section_rows(await target.client.command("power"), "POWER")[0]["Watts"])


async def test_a_profile_is_set_with_a_session_and_read_back(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    names = [
        r["Profile Name"] for r in section_rows(await target.client.command("profiles"), "PROFILES")
    ]
    assert names[16] == "default" and "400MHz" in names and len(names) == 25
    ghs, watts = await _hashrate_ghs(target), await _watts(target)

    outcome = await driver.run(target, "work_mode", {"mode": "400MHz"})
    assert outcome.state == "succeeded" and outcome.result == "profile 400MHz set"
    assert await driver.verify(target, "work_mode", {"mode": "400MHz"}, outcome) == (
        "verified: profile 400MHz is active"
    )
    sent = next(r for r in miner.requests if r.startswith("profileset|"))
    assert sent.endswith(",400MHz") and miner.lux.session_id is None  # logged off after
    # 400 of 500 MHz: about 80 % of the hashrate, and less power
    assert 0.7 * ghs < await _hashrate_ghs(target) < 0.9 * ghs
    assert await _watts(target) < 0.85 * watts

    back = await driver.run(target, "work_mode", {"mode": "normal"})  # normal = the nameplate
    assert back.state == "succeeded" and back.result == "profile default set"
    assert await driver.verify(target, "work_mode", {"mode": "normal"}, back) == (
        "verified: profile default is active"
    )


async def test_a_profile_the_miner_lacks_is_refused_with_its_list(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    for mode in ("low_power", "9999MHz"):
        outcome = await driver.run(target, "work_mode", {"mode": mode})
        assert outcome.state == "refused"
        assert outcome.result.startswith(
            f"refused: m0 has no LuxOS profile '{mode}'; its profiles: "
        )
        assert "default" in outcome.result and "475MHz" in outcome.result
    assert not any(r.startswith(("logon", "profileset")) for r in miner.requests)
    # the command path refuses what cannot be a profile name before any driver runs
    for bad in ("", "400MHz,red", "a|b", "x" * 33, 475, None):
        with pytest.raises(CommandError) as err:
            validate("work_mode", {"mode": bad})
        assert err.value.status == 422
    assert validate("work_mode", {"mode": "475MHz"}) == {"mode": "475MHz"}


async def test_profileset_without_a_session_is_refused(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.lux is not None
    target = await identified(sim, 0)
    for param in ("400MHz", "not-a-session,400MHz"):
        reply = await target.client.request("profileset", param)
        assert reply["STATUS"][0]["STATUS"] == "E"
        assert reply["STATUS"][0]["Msg"] == "Invalid session id"
    assert miner.lux.profile == "default" and miner.freq_mhz == 500
    miner.lux.refuse = True  # and the firmware refusing the write itself, session or not
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "work_mode", {"mode": "400MHz"})
    assert outcome.state == "refused"
    assert outcome.result == (
        "refused: the miner rejected profileset: profileset is disabled by the site policy"
    )
    assert miner.lux.profile == "default" and miner.lux.session_id is None


async def test_a_hung_miner_costs_one_timeout_for_a_work_mode(sim: FleetSimulator) -> None:
    target = await identified(sim, 0, timeout_s=0.5)
    await sim.miners[0].set_fault(Fault.HANG)
    driver = DriverRegistry(quick_context()).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "work_mode", {"mode": "400MHz"})
    assert outcome.state == "failed" and "timeout" in outcome.result
    assert time.monotonic() - started < 5.0
    verdict = await driver.verify(
        target, "work_mode", {}, Outcome("succeeded", "", None, {"profile": "400MHz"})
    )
    assert verdict == "sent, not verified: config could not be read, not 400MHz"
