"""The Alerts screen with the pilot against a real backend polling a simulated fleet: alerts are
readable in full (miner, place, rule, message, value vs limit, age), filtered and sorted,
acknowledged and silenced with a reason (the status bar's count follows at once), their history
shown, and `enter` opens the miner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.widgets import Input, Static

from backend.runtime import BackendThread
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.screens.alerts import AlertsScreen, SilenceScreen
from hashinsight_tui.screens.confirm import DecisionScreen
from hashinsight_tui.screens.miner_detail import MinerDetailScreen
from hashinsight_tui.widgets.line_table import LineTable
from hashinsight_tui.widgets.status_bar import StatusBar
from tests.helpers import wait_for

SIZE = (120, 36)


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[BackendThread]:
    fleet = FleetSimulator(3, use_ports=True, families=["antminer"])
    await fleet.start()
    await fleet.miners[0].set_fault(Fault.OVERHEAT)
    await fleet.miners[1].set_fault(Fault.DEAD_POOL, pool="all")
    thread = BackendThread(
        settings.model_copy(update={"fleet_poll_interval_s": 0.5, **fleet.settings_overrides()}),
        mode="serve",
    )
    await asyncio.to_thread(thread.start)
    try:
        yield thread
    finally:
        await asyncio.to_thread(thread.stop)
        await fleet.stop()


def console(thread: BackendThread) -> HashInsightApp:
    token = thread.backend.operator_token
    assert token is not None
    # A long refresh: whatever changes on screen during the test came pushed or from our own
    # action's answer, not from a periodic re-read.
    options = ConsoleOptions(
        url=thread.backend.url, api_key=token, refresh_s=30.0, start_screen="alerts"
    )
    return HashInsightApp(options)


def rows(app: HashInsightApp) -> list[list[str]]:
    table = app.screen.query_one("#alerts-table", LineTable)
    return [[str(cell) for cell in cells] for _key, cells in table.rows]


def status(app: HashInsightApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def text(app: HashInsightApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def notifications(app: HashInsightApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def select(app: HashInsightApp, rule: str) -> None:
    table = app.screen.query_one("#alerts-table", LineTable)
    table.move_to(table.rows[[r[3] for r in rows(app)].index(rule)][0])


async def settle(app: HashInsightApp, pilot: Any) -> None:
    app.paused = True
    await wait_for(
        lambda: not any(w.group == "snapshots" and w.is_running for w in app.workers), pilot
    )


async def test_alerts_are_readable_filtered_acknowledged_and_silenced(
    backend: BackendThread,
) -> None:
    app = console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, AlertsScreen), pilot)
        await wait_for(lambda: {"overheat", "pools_dead"} <= {r[3] for r in rows(app)}, pilot, 40)
        by_rule = {r[3]: r for r in rows(app)}
        heat, pools = by_rule["overheat"], by_rule["pools_dead"]
        assert heat[0] == "critical" and "temperature" in heat[4] and "above" in heat[4]
        assert " vs " in heat[5]  # value vs threshold
        assert pools[4] == "all 2 pools are dead or disabled" or "pools are dead" in pools[4]
        assert heat[6] == "new" and heat[7] != "—"
        assert "Alerts go to: every console" in text(app, "#alerts-summary")
        waiting = len([r for r in rows(app) if r[6] == "new"])
        assert f"⚠ {waiting} alert" in status(app)

        app.run_command("alerts rule=pools_dead")
        await wait_for(lambda: [r[3] for r in rows(app)] == ["pools_dead"], pilot)
        assert "rule=pools_dead" in status(app)
        await pilot.press("escape")
        await wait_for(lambda: len(rows(app)) >= 2, pilot)

        select(app, "overheat")
        await pilot.press("k")
        await wait_for(lambda: isinstance(app.screen, DecisionScreen), pilot)
        assert app.screen.focused is app.screen.query_one("#decision-reason", Input)
        app.screen.query_one("#decision-reason", Input).value = "fans cleaned"
        await pilot.press("enter")
        await wait_for(lambda: any("Acknowledged" in n for n in notifications(app)), pilot)
        await wait_for(lambda: by(app, "overheat")[6] == "acknowledged", pilot, 5)
        select(app, "overheat")
        await wait_for(lambda: "fans cleaned" in text(app, "#alerts-detail"), pilot)
        assert f"⚠ {waiting - 1} alert" in status(app) or waiting == 1

        select(app, "pools_dead")
        await pilot.press("z")
        await wait_for(lambda: isinstance(app.screen, SilenceScreen), pilot)
        app.screen.query_one("#silence-for", Input).value = "2h"
        app.screen.query_one("#silence-reason", Input).value = "pool provider incident"
        app.screen.query_one("#confirm").press()  # type: ignore[attr-defined]
        await wait_for(lambda: isinstance(app.screen, AlertsScreen), pilot)
        await wait_for(lambda: by(app, "pools_dead")[6] == "silenced", pilot, 5)
        select(app, "pools_dead")
        await wait_for(lambda: "pool provider incident" in text(app, "#alerts-detail"), pilot)

        await pilot.press("h")
        await wait_for(lambda: "History" in text(app, "#alerts-summary"), pilot)
        await pilot.press("h")
        await wait_for(lambda: "open" in text(app, "#alerts-summary"), pilot)

        select(app, "overheat")
        miner = by(app, "overheat")[1]
        app.screen.query_one("#alerts-table", LineTable).focus()
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, MinerDetailScreen), pilot, 10)
        assert app.screen.miner_id == miner  # type: ignore[attr-defined]
        await settle(app, pilot)

    token = backend.backend.operator_token
    assert token is not None
    async with HashInsightClient(backend.backend.url, token) as client:
        items = (await client.alerts(state="raised")).items
    silenced = [a for a in items if a.rule == "pools_dead"]
    assert silenced and silenced[0].silence_reason == "pool provider incident"
    assert silenced[0].silenced_until is not None


def by(app: HashInsightApp, rule: str) -> list[str]:
    return next(r for r in rows(app) if r[3] == rule)
