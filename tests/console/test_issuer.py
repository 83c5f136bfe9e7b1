"""The Issuer screen driven with the pilot against real backends: a semi-auto issuer wired to the
Bitmart and ndau simulators (approve, reject, drill-down, read-only keys), and the demo world."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from backend.issuer.service import IssuerService
from backend.runtime import BackendThread
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.confirm import DecisionScreen
from hashinsight_tui.screens.issuer import IssueDetailScreen, IssuerScreen
from hashinsight_tui.widgets.line_table import LineTable
from tests.console.test_operator_trust import console
from tests.helpers import wait_for
from tests.issuer.issuer_harness import SignerRunner, issuer_settings, start_signer

SIZE = (120, 36)


@dataclass
class IssuerWorld:
    thread: BackendThread
    bitmart: BitmartSimulator
    node: NdauNodeSimulator
    signer: SignerRunner

    @property
    def service(self) -> IssuerService:
        service = self.thread.backend.services_by_name["issuer"]
        assert isinstance(service, IssuerService)
        return service


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[IssuerWorld]:
    bitmart, node = BitmartSimulator(), NdauNodeSimulator()
    await bitmart.start()
    await node.start()
    settings = issuer_settings(tmp_path, bitmart, node, issuer_mode="semi_auto", issuer_poll_s=0.3)
    thread = BackendThread(settings, mode="serve")
    await asyncio.to_thread(thread.start)
    hub = thread.backend.url.replace("http", "ws", 1) + "/api/v1/issuer/signer"
    signer = start_signer(node, tmp_path, [hub])
    try:
        yield IssuerWorld(thread, bitmart, node, signer)
    finally:
        await signer.stop()
        await asyncio.to_thread(thread.stop)
        await bitmart.stop()
        await node.stop()
        bitmart.cleanup()


def options(thread: BackendThread, key: str | None = None) -> ConsoleOptions:
    api_key = key or thread.backend.operator_token
    assert api_key is not None
    return ConsoleOptions(
        url=thread.backend.url, api_key=api_key, refresh_s=0.5, start_screen="issuer"
    )


def rows(app: HashInsightApp) -> list[list[str]]:
    table = app.screen.query_one("#issuer-table", LineTable)
    return [[str(cell) for cell in cells] for _key, cells in table.rows]


def state_of(app: HashInsightApp, issue_id: int) -> str | None:
    if not isinstance(app.screen, IssuerScreen):
        return None
    return next((r[1] for r in rows(app) if r[0] == str(issue_id)), None)


def text(app: HashInsightApp, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


def sell(world: IssuerWorld, size: str) -> None:
    world.bitmart.add_trade(side="sell", size=size, at_ms=int(time.time() * 1000) - 5)


async def select_issue(app: HashInsightApp, pilot: object, issue_id: int) -> None:
    table = app.screen.query_one("#issuer-table", LineTable)
    table.focus()
    table.move_to(str(issue_id))
    assert table.cursor_key == str(issue_id)
    await pilot.pause()  # type: ignore[attr-defined]


async def test_approve_and_reject_with_confirmation_and_audit(world: IssuerWorld) -> None:
    app = HashInsightApp(options(world.thread))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, IssuerScreen), pilot)
        await wait_for(lambda: "Signer ✓ demo-signer" in text(app, "#issuer-status"), pilot)
        status = text(app, "#issuer-status")
        assert "Mode semi_auto" in status and "lease: this backend" in status
        assert "RFE seq 4170" in status
        sell(world, "12.5")
        await wait_for(lambda: state_of(app, 1) == "awaiting_approval", pilot, 15)
        await select_issue(app, pilot, 1)
        assert "a approve" in text(app, "#issuer-detail")

        # Approve: a confirmation with an optional reason, its field focused; esc decides nothing.
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.focused, Input), pilot)
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, IssuerScreen), pilot)
        assert state_of(app, 1) == "awaiting_approval"
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.focused, Input), pilot)
        await pilot.press(*"desk confirmed the sale", "enter")  # typed into the reason
        await wait_for(lambda: state_of(app, 1) == "confirmed", pilot, 20)
        issue = world.thread.call(world.service.issue_detail(1))
        assert issue.decided_by is not None and issue.decided_by.startswith("key:")
        assert issue.decision_reason == "desk confirmed the sale"
        assert len(world.node.issue_txs()) == 1

        # Reject: the reason is required.
        sell(world, "3")
        await wait_for(lambda: state_of(app, 2) == "awaiting_approval", pilot, 15)
        await select_issue(app, pilot, 2)
        await pilot.press("x")
        await wait_for(lambda: isinstance(app.screen, DecisionScreen), pilot)
        await pilot.click("#confirm")
        await pilot.pause()
        assert isinstance(app.screen, DecisionScreen)
        assert "required" in str(app.screen.query_one("#decision-hint", Static).render())
        assert isinstance(app.focused, Input)  # the refusal put the focus back in the field
        # Typed and Enter, as an operator does: a click could land on a toast over the button.
        await pilot.press(*"test trade", "enter")
        await wait_for(lambda: state_of(app, 2) == "rejected", pilot, 20)
        assert len(world.node.issue_txs()) == 1

        # Drill-down into the trades of the confirmed issue.
        await select_issue(app, pilot, 1)
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, IssueDetailScreen), pilot)
        trades = app.screen.query_one("#issue-trades", LineTable)
        assert trades.row_count == 1 and str(trades.rows[0][1][2]) == "12.5"
        assert "confirmed" in str(app.screen.query_one("#issue-head", Static).render())
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, IssuerScreen), pilot)
        await wait_for(
            lambda: "sold 15.50000000 vs issued 12.50000000" in text(app, "#issuer-status"), pilot
        )


async def test_a_read_only_key_sees_everything_and_can_decide_nothing(
    world: IssuerWorld,
) -> None:
    _info, viewer = world.thread.call(
        world.thread.backend.auth.create_key(
            name="viewer", scopes=["read", "stream"], tier="operator"
        )
    )
    sell(world, "2")
    app = HashInsightApp(options(world.thread, viewer))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: state_of(app, 1) == "awaiting_approval", pilot, 15)
        await wait_for(lambda: app.store.key is not None, pilot)
        await select_issue(app, pilot, 1)
        await pilot.press("a")
        await pilot.press("x")
        await pilot.pause(0.2)
        assert isinstance(app.screen, IssuerScreen)  # no dialog: the actions are not offered
        assert "a approve" not in text(app, "#issuer-detail")
        assert state_of(app, 1) == "awaiting_approval"


async def test_demo_world_shows_trades_becoming_confirmed_issues_at_80x24(
    backend_thread: BackendThread,
) -> None:
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: isinstance(app.screen, IssuerScreen), pilot)
        await wait_for(lambda: any(r[1] == "confirmed" for r in rows(app)), pilot, 45)
        status = text(app, "#issuer-status")
        assert "Signer ✓ demo-signer" in status and "Mode auto" in status
        confirmed = next(r for r in rows(app) if r[1] == "confirmed")
        assert confirmed[4] != "—"  # it has its sequence on the chain


async def test_the_detail_follows_the_cursor_and_an_empty_view_says_which() -> None:
    """On the recorded world (every issue confirmed): the detail shows the issue under the
    cursor; a view with none says so, and still does after the next second's redraw."""
    async with console("issuer") as (app, pilot):
        await wait_for(lambda: len(rows(app)) >= 3, pilot)
        app.screen.query_one("#issuer-table", LineTable).focus()
        await pilot.press("down", "down")
        third = rows(app)[2][0]
        await wait_for(lambda: text(app, "#issuer-detail").startswith(f"#{third} "), pilot)
        await pilot.press("f")  # awaiting approval: none
        await wait_for(lambda: rows(app) == [], pilot)
        app.tick_clock()
        await pilot.pause()
        assert "No issues in view 'awaiting'" in text(app, "#issuer-detail")
