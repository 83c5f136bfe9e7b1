"""The Approvals screen with the pilot against a real backend: a semi-auto fleet command from a
simulated miner fleet and a semi-auto ndau issue from the Bitmart and ndau simulators wait in one
queue; on-call staff approve and reject them with audited reasons."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Input, Static

from backend.runtime import BackendThread
from backend.sim.bitmart import BitmartSimulator
from backend.sim.fleet import FleetSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.approvals import ApprovalsScreen
from hashinsight_tui.screens.confirm import DecisionScreen
from hashinsight_tui.sdk import commands as sdk_commands
from hashinsight_tui.widgets.line_table import LineTable
from tests.console.snapshot_world import URL, replay_client
from tests.helpers import wait_for
from tests.issuer.issuer_harness import SignerRunner, issuer_settings, start_signer

SIZE = (120, 36)


@dataclass
class World:
    thread: BackendThread
    bitmart: BitmartSimulator
    fleet: FleetSimulator
    signer: SignerRunner

    def call_api(self, method: str, path: str, key: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=self.thread.backend.url, headers=headers, timeout=10) as http:
            return http.request(method, path, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    bitmart, node = BitmartSimulator(), NdauNodeSimulator()
    fleet = FleetSimulator(3, use_ports=True, families=["antminer"], restart_downtime_s=0.5)
    await bitmart.start()
    await node.start()
    await fleet.start()
    settings = issuer_settings(
        tmp_path,
        bitmart,
        node,
        issuer_mode="semi_auto",
        issuer_poll_s=0.3,
        fleet_poll_interval_s=0.5,
        **fleet.settings_overrides(),
    )
    thread = BackendThread(settings, mode="serve")
    await asyncio.to_thread(thread.start)
    hub = thread.backend.url.replace("http", "ws", 1) + "/api/v1/issuer/signer"
    signer = start_signer(node, tmp_path, [hub])
    try:
        yield World(thread, bitmart, fleet, signer)
    finally:
        await signer.stop()
        await asyncio.to_thread(thread.stop)
        await fleet.stop()
        await bitmart.stop()
        await node.stop()
        bitmart.cleanup()


def console(world: World, key: str) -> HashInsightApp:
    options = ConsoleOptions(
        url=world.thread.backend.url, api_key=key, refresh_s=0.5, start_screen="approvals"
    )
    return HashInsightApp(options)


def rows(app: HashInsightApp) -> list[list[str]]:
    table = app.screen.query_one("#approvals-table", LineTable)
    return [[str(cell) for cell in cells] for _key, cells in table.rows]


def notifications(app: HashInsightApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def decide(app: HashInsightApp, pilot: object, key: str, reason: str) -> None:
    await pilot.press(key)  # type: ignore[attr-defined]
    await wait_for(lambda: isinstance(app.screen, DecisionScreen), pilot)
    app.screen.query_one("#decision-reason", Input).value = reason
    app.screen.query_one("#confirm").press()
    await wait_for(lambda: isinstance(app.screen, ApprovalsScreen), pilot)


async def queue_restart(world: World) -> tuple[str, str, str]:
    """A semi-auto key asks to restart a polled miner: (key, miner id, command id)."""
    backend = world.thread.backend
    _info, semi = world.thread.call(
        backend.auth.create_key(
            name="night shift", scopes=["read", "stream", "fleet:control"], mode="semi_auto"
        )
    )
    fleet = backend.services_by_name["fleet"]
    deadline = time.monotonic() + 30
    while len(fleet.poller.states) < 3:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    miner_id = sorted(fleet.poller.states)[0]  # type: ignore[attr-defined]
    path = f"/api/v1/miners/{miner_id}/commands"
    queued = await asyncio.to_thread(
        world.call_api, "POST", path, semi, json={"command": "restart"}
    )
    assert queued.status_code == 202, queued.text
    return semi, miner_id, queued.json()["command_id"]


async def test_one_queue_for_fleet_commands_and_issues_with_audited_decisions(
    world: World,
) -> None:
    _semi, miner_id, command_id = await queue_restart(world)
    operator = world.thread.backend.operator_token
    assert operator is not None
    world.bitmart.add_trade(side="sell", size="42", at_ms=int(time.time() * 1000) - 100)

    app = console(world, operator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, ApprovalsScreen), pilot)
        await wait_for(lambda: len(rows(app)) == 2, pilot, 30)
        kinds = {r[0]: r for r in rows(app)}
        assert kinds["fleet"][1] == command_id and kinds["fleet"][2] == "restart"
        assert kinds["fleet"][3] == miner_id and "night shift" in kinds["fleet"][4]
        assert kinds["issuer"][2] == "issue 42.00000000 ndau"
        summary = str(app.screen.query_one("#approvals-summary", Static).render())
        assert "2 waiting" in summary and "fleet:control, issuer:approve" in summary

        table = app.screen.query_one("#approvals-table", LineTable)
        table.move_to(table.rows[[r[0] for r in rows(app)].index("fleet")][0])
        await decide(app, pilot, "a", "rack 3 verified by phone")
        await wait_for(lambda: any("approved" in n for n in notifications(app)), pilot)
        await wait_for(lambda: [r[0] for r in rows(app)] == ["issuer"], pilot)
        await decide(app, pilot, "x", "desk says test sale")
        await wait_for(lambda: any("rejected" in n for n in notifications(app)), pilot)
        await wait_for(lambda: rows(app) == [], pilot)
        detail = str(app.screen.query_one("#approvals-detail", Static).render())
        assert "Nothing is waiting" in detail

    log = (
        await asyncio.to_thread(world.call_api, "GET", "/api/v1/fleet/commands", operator)
    ).json()
    decided = next(c for c in log["items"] if c["command_id"] == command_id)
    assert (
        decided["state"] != "pending_approval" and decided["reason"] == "rack 3 verified by phone"
    )
    issue = (
        await asyncio.to_thread(world.call_api, "GET", "/api/v1/issuer/issues/1", operator)
    ).json()
    assert issue["state"] == "rejected" and issue["decision_reason"] == "desk says test sale"


async def test_the_requester_sees_its_own_request_and_cannot_decide_it(world: World) -> None:
    semi, _miner_id, _command_id = await queue_restart(world)
    app = console(world, semi)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(rows(app)) == 1, pilot, 30)
        assert rows(app)[0][4].endswith("(you)")
        detail = str(app.screen.query_one("#approvals-detail", Static).render())
        assert "another operator's key must decide" in detail
        await decide(app, pilot, "a", "approving my own")
        await wait_for(lambda: any("not changed" in n for n in notifications(app)), pilot)
        assert any("other than the requester" in n for n in notifications(app))
        assert len(rows(app)) == 1


async def test_an_approval_without_an_answer_in_time_says_it_may_have_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approving a restart runs it before the answer comes: a console that stops waiting
    first must not say "not changed" (the restart went out; a second approval would be a
    second restart if it could be made)."""
    _semi, _miner_id, command_id = await queue_restart(world)
    monkeypatch.setattr(sdk_commands, "COMMAND_TIMEOUT_S", 0.005)
    operator = world.thread.backend.operator_token
    assert operator is not None
    app = console(world, operator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(rows(app)) == 1, pilot, 30)
        await decide(app, pilot, "a", "rack 3 verified by phone")
        await wait_for(lambda: any(command_id in n for n in notifications(app)), pilot)
        message = next(n for n in notifications(app) if command_id in n)
        assert "may have been decided" in message and "not changed" not in message
        await wait_for(lambda: rows(app) == [], pilot, 30)  # it was: the queue shows it


async def test_the_demo_has_night_shift_requests_waiting(backend_thread: BackendThread) -> None:
    token = backend_thread.backend.operator_token
    assert token is not None
    app = HashInsightApp(
        ConsoleOptions(
            url=backend_thread.backend.url, api_key=token, refresh_s=0.5, start_screen="approvals"
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(rows(app)) == 2, pilot, 60)
        assert {r[2] for r in rows(app)} == {"restart", "switchpool pool=1"}
        assert all(r[0] == "fleet" and r[4].endswith("(night shift (demo))") for r in rows(app))


async def test_the_detail_follows_the_cursor_and_enter_opens_the_row_under_it(
    answers: dict[str, dict[str, Any]],
) -> None:
    options = ConsoleOptions(
        url=URL, api_key="hsk_snapshot", refresh_s=3600.0, start_screen="approvals"
    )
    app = HashInsightApp(options, client=replay_client(answers))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(rows(app)) == 2, pilot)
        screen = app.screen
        table = screen.query_one("#approvals-table", LineTable)
        second = rows(app)[1]

        def detail() -> str:
            return str(screen.query_one("#approvals-detail", Static).render())

        assert rows(app)[0][1] in detail()
        table.focus()
        await pilot.press("down")
        await wait_for(lambda: second[1] in detail(), pilot)
        await pilot.press("enter")  # the footer's "enter Open", with the table focused
        await wait_for(lambda: app.current_mode == "fleet", pilot)
        await wait_for(lambda: app.screen.filters == {"q": second[3]}, pilot)  # type: ignore[attr-defined]
