"""A restart we sent is not an outage: the miner going dark shows as rebooting and raises no
offline alert while the grace lasts; still dark after it, the offline alert is raised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from backend.auth.service import KeyInfo
from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.commands import FleetCommands
from backend.fleet.drivers import ControlContext
from backend.fleet.poller import Poller
from backend.settings import Settings
from backend.sim.fleet import FleetSimulator
from hashinsight_contract.fleet import CommandOut
from tests.fleet.fleet_helpers import make_poller, specs_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OPERATOR = KeyInfo(
    1,
    "k1",
    "night shift",
    "operator",
    None,
    ("fleet:control",),
    "operator",
    "auto",
    NOW,
    None,
    None,
)


@pytest.fixture
async def fleet(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[FleetSimulator, Poller, FleetCommands, ManualClock]]:
    # one plain cgminer that stays dark for a minute after a restart; alerts raise after 2 sweeps
    async with FleetSimulator(
        1, use_ports=True, families=["cgminer"], restart_downtime_s=60
    ) as sim:
        clock = ManualClock()
        poller = make_poller(
            settings,
            database,
            EventBus(),
            clock,
            specs_for(sim),
            fleet_alert_raise_sweeps=2,
            fleet_reboot_grace_s=120.0,
        )
        await poller.sweep()
        context = ControlContext(verify_timeout_s=3.0, verify_interval_s=0.1)
        yield sim, poller, FleetCommands(database, poller, clock, 4, context=context), clock


async def test_a_restart_we_sent_shows_rebooting_without_an_offline_alert(
    fleet: tuple[FleetSimulator, Poller, FleetCommands, ManualClock],
) -> None:
    _sim, poller, commands, clock = fleet
    [restart] = await commands.request(["m0"], "restart", {}, key=OPERATOR)
    assert restart.state == "succeeded"  # the reboot was received: the window opens
    assert restart.verification == (  # dark for a minute: not back within the read-back
        "sent, not verified: the miner went dark and was not seen back within 3s"
    )
    for _ in range(3):  # more sweeps than it takes to raise an alert
        clock.advance(10)
        await poller.sweep()
    data = poller.miner_data(poller.states["m0"])
    assert data["status"] == "offline"
    assert data["error"].startswith(
        "rebooting after a restart by key:k1(night shift); offline alert held for"
    )
    assert poller.book.open_count("m0") == 0

    clock.advance(100)  # the grace is over and it is still dark: now it is an outage
    for _ in range(2):
        clock.advance(10)
        await poller.sweep()
    data = poller.miner_data(poller.states["m0"])
    assert "rebooting" not in (data["error"] or "")
    assert [alert.rule for alert in poller.book.open.values()] == ["offline"]
    assert "m0" not in poller.rebooting


async def test_without_a_restart_a_dark_miner_alerts_as_before(
    fleet: tuple[FleetSimulator, Poller, FleetCommands, ManualClock],
) -> None:
    sim, poller, _commands, clock = fleet
    await sim.miners[0].stop()
    for _ in range(2):
        clock.advance(10)
        await poller.sweep()
    assert [alert.rule for alert in poller.book.open.values()] == ["offline"]
    assert "rebooting" not in (poller.miner_data(poller.states["m0"])["error"] or "")


async def test_a_miner_that_answers_a_while_before_going_down_keeps_its_window(
    fleet: tuple[FleetSimulator, Poller, FleetCommands, ManualClock],
) -> None:
    """Vnish reboots 3 s after answering, BOSer after its reply: a sweep in between sees the miner
    still up with its old uptime, which must not end the window."""
    sim, poller, _commands, clock = fleet
    poller.expect_reboot("m0", "a restart by k1")
    clock.advance(10)
    await poller.sweep()  # still up, uptime not reset: not back from anything yet
    assert "m0" in poller.rebooting
    await sim.miners[0].stop()  # now it goes down
    for _ in range(3):
        clock.advance(10)
        await poller.sweep()
    assert poller.miner_data(poller.states["m0"])["error"].startswith("rebooting after")
    assert poller.book.open_count("m0") == 0


async def test_the_poller_verifies_a_restart_once_the_miner_is_back(
    settings: Settings, database: Database
) -> None:
    """The read-back waits 1 s, the miner takes 3: the command first says it went dark; the
    sweep that sees it back with a fresh uptime makes it verified, in the log and on the bus."""
    async with FleetSimulator(1, use_ports=True, families=["cgminer"], restart_downtime_s=3) as sim:
        clock, bus = ManualClock(), EventBus()
        poller = make_poller(
            settings, database, bus, clock, specs_for(sim), fleet_reboot_grace_s=120.0
        )
        await poller.sweep()
        context = ControlContext(verify_timeout_s=1.0, verify_interval_s=0.1)
        commands = FleetCommands(database, poller, clock, 4, context=context)
        updates = bus.subscribe({"miners"})
        [restart] = await commands.request(["m0"], "restart", {}, key=OPERATOR)
        assert restart.verified is False and "not seen back within 1s" in str(restart.verification)

        async def logged() -> CommandOut:
            [row], _total = await commands.list(None, 1, 0)
            return row

        for _ in range(40):  # until it is back (about 3 s of real time, inside the grace)
            clock.advance(2)
            await poller.sweep()
            await asyncio.sleep(0.3)
            if (await logged()).verified:
                break
        done = await logged()
        assert done.verified is True, done.verification
        assert done.verification is not None
        assert done.verification.startswith("verified: back ") and "seen by the poller" in (
            done.verification
        )
        pushed = [e for e in updates.poll() if e.type == "command.update"]
        assert pushed and pushed[-1].data["verified"] is True
