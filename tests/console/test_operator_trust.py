"""What an operator at 3 a.m. relies on: the prompts show what is typed (with completion), `esc`
clears any filter, dialogs take the keys where they are expected and leave the cursor where it
was, and a pause shows the true age of the frozen data.

The console runs on the recorded answers of `snapshot_world.py` (no backend, quick under load)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import ManagedKey
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import ConfirmScreen, DecisionScreen
from hashinsight_tui.screens.fleet import SNAP_MINERS, FleetScreen
from hashinsight_tui.screens.health import HealthScreen
from hashinsight_tui.screens.keys import KeysScreen
from hashinsight_tui.widgets.command_line import PromptLine
from hashinsight_tui.widgets.key_forms import KeyFormScreen
from hashinsight_tui.widgets.line_table import LineTable
from hashinsight_tui.widgets.status_bar import StatusBar
from tests.console.snapshot_world import URL, load_recording, replay_client
from tests.helpers import wait_for

SIZE = (120, 36)
NARROW = (80, 24)


@asynccontextmanager
async def console(
    screen: str, size: tuple[int, int] = SIZE, **kw: Any
) -> AsyncIterator[tuple[HashInsightApp, Pilot[None]]]:
    """The console on the recorded world, connected, with `screen` drawn from its data."""
    _captured_at, answers = load_recording()
    options = ConsoleOptions(
        url=URL, api_key="hsk_test", refresh_s=kw.pop("refresh_s", 3600.0), start_screen=screen
    )
    app = HashInsightApp(options, client=replay_client(answers))
    async with app.run_test(size=size) as pilot:
        await wait_for(
            lambda: app.store.state == "connected" and app.current_mode == screen, pilot, 60
        )
        yield app, pilot


def status_line(app: HashInsightApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def screen_lines(app: HashInsightApp) -> list[str]:
    height = app.size.height
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return ["".join(seg.text for seg in strip) for strip in strips][:height]


def rows(app: HashInsightApp, selector: str = "DataTable") -> list[list[str]]:
    table = app.screen.query_one(selector)
    if isinstance(table, LineTable):
        return [[str(cell) for cell in cells] for _key, cells in table.rows]
    assert isinstance(table, DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


# --- item 5: the prompts ----------------------------------------------------------------------


async def test_command_line_shows_what_is_typed_and_completes_it() -> None:
    async with console("health") as (app, pilot):
        await pilot.press("colon", *"fle")
        await wait_for(lambda: any(": fle" in line for line in screen_lines(app)), pilot)
        # the completion is offered on screen, above the line being typed
        assert any("fleet" in line and "tab" in line for line in screen_lines(app))
        await pilot.press("tab")
        line = app.screen.query_one(PromptLine)
        assert line.value == "fleet"
        await pilot.press(*" st")
        await pilot.press("tab")
        assert line.value == "fleet status="
        await pilot.press("e")
        await wait_for(lambda: any("status=error" in s for s in screen_lines(app)), pilot)
        await pilot.press("tab")
        assert line.value == "fleet status=error"
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, FleetScreen), pilot)


async def test_filter_line_shows_what_is_typed_at_80x24() -> None:
    async with console("keys", size=NARROW) as (app, pilot):
        await wait_for(lambda: len(rows(app, "#keys-table")) >= 2, pilot)
        await pilot.press("slash", *"night")
        await wait_for(lambda: any("/ night" in line for line in screen_lines(app)), pilot)
        await wait_for(lambda: len(rows(app, "#keys-table")) == 1, pilot)


async def test_esc_clears_a_filter_set_by_a_command() -> None:
    async with console("health") as (app, pilot):
        await wait_for(lambda: len(rows(app, "#health-table")) > 3, pilot)
        everything = len(rows(app, "#health-table"))
        await pilot.press("colon", *"health status=down", "enter")
        await wait_for(lambda: len(rows(app, "#health-table")) < everything, pilot)
        assert all(row[2] == "down" for row in rows(app, "#health-table"))
        # the screen says which filter is in force, and how to drop it
        await wait_for(lambda: "filter status=down" in status_line(app), pilot)
        assert "esc clears" in status_line(app)
        await pilot.press("escape")
        await wait_for(lambda: len(rows(app, "#health-table")) == everything, pilot)
        assert "filter" not in status_line(app)


async def test_esc_clears_the_fleet_filter_of_a_command_and_of_slash() -> None:
    async with console("fleet") as (app, pilot):
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        await wait_for(lambda: len(screen.model) > 0, pilot, 60)
        total = len(screen.model)
        await pilot.press("colon", *"fleet status=error", "enter")
        await wait_for(lambda: "filter status=error" in status_line(app), pilot)
        await wait_for(lambda: len(screen.model.order) < total, pilot)
        await pilot.press("escape")
        await wait_for(lambda: len(screen.model.order) == total, pilot)
        assert "filter" not in status_line(app)
        # a `/` filter kept with enter is shown too, and esc drops it as well
        await pilot.press("slash", *"zzz-nothing", "enter")
        await wait_for(lambda: "filter zzz-nothing" in status_line(app), pilot)
        assert len(screen.model.order) == 0
        await pilot.press("escape")
        await wait_for(lambda: len(screen.model.order) == total, pilot)


# --- item 6: dialogs --------------------------------------------------------------------------


async def _decision(app: HashInsightApp, pilot: Pilot[None], **kw: Any) -> list[Any]:
    answers: list[Any] = []
    app.push_screen(DecisionScreen("Reject restart on m-1?", "Reject", **kw), answers.append)
    await wait_for(lambda: isinstance(app.focused, Input), pilot)  # the reason field
    return answers


async def test_reason_dialog_takes_typing_and_enter_decides() -> None:
    async with console("approvals") as (app, pilot):
        answers = await _decision(app, pilot, need_reason=True, danger=True)
        await pilot.press("enter")  # empty required reason: says so, decides nothing
        dialog = app.screen
        await wait_for(
            lambda: "required" in str(dialog.query_one("#decision-hint", Static).render()), pilot
        )
        assert isinstance(app.screen, DecisionScreen) and answers == []
        await pilot.press(*"pool is down", "enter")
        await wait_for(lambda: answers == ["pool is down"], pilot)


async def test_dialog_buttons_move_with_arrows_and_cancel_stays_default() -> None:
    async with console("approvals") as (app, pilot):
        answers: list[Any] = []
        app.push_screen(ConfirmScreen("Revoke key k1?", "Revoke"), answers.append)
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        # no input to type in: Cancel is the default, a stray enter changes nothing
        await wait_for(
            lambda: isinstance(app.focused, Button) and app.focused.id == "cancel", pilot
        )
        assert isinstance(app.focused, Button)
        await pilot.press("left")
        assert app.focused.id == "confirm"
        await pilot.press("right")
        assert app.focused.id == "cancel"
        await pilot.press("left", "enter")
        await wait_for(lambda: answers == [True], pilot)

        decision = await _decision(app, pilot, need_reason=False)
        await pilot.press("tab")
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("right")
        assert app.focused.id == "cancel"
        await pilot.press("enter")
        await wait_for(lambda: decision == [None], pilot)


def _key_named(app: HashInsightApp, name: str) -> ManagedKey:
    return next(k for k in app.store.snapshots["keys.keys"] if k.name == name)


async def test_after_a_dialog_keys_act_on_the_selected_row() -> None:
    async with console("keys") as (app, pilot):
        await wait_for(lambda: len(rows(app, "#keys-table")) >= 3, pilot)
        table = app.screen.query_one("#keys-table", LineTable)
        table.focus()
        await pilot.press("down", "down")
        chosen = rows(app, "#keys-table")[table.cursor_row][1]
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, KeyFormScreen), pilot)
        # meanwhile another operator creates a key that sorts above the chosen one
        keys = list(app.store.snapshots["keys.keys"])
        newcomer = _key_named(app, keys[0].name).model_copy(
            update={"key_id": "aaaanewcomer", "name": "newcomer"}
        )
        app.store.set_snapshots({"keys.keys": [newcomer, *keys]})
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        await wait_for(lambda: len(rows(app, "#keys-table")) == len(keys) + 1, pilot)
        assert rows(app, "#keys-table")[table.cursor_row][1] == chosen
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert f"({chosen})" in confirm.question
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        assert rows(app, "#keys-table")[table.cursor_row][1] == chosen


async def test_key_actions_do_nothing_on_another_tab() -> None:
    async with console("keys") as (app, pilot):
        await wait_for(lambda: len(rows(app, "#keys-table")) >= 2, pilot)
        await pilot.press("t")  # the Partners tab: `d` must not revoke a key you cannot see
        await pilot.press("d")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_prompt_gives_the_focus_back_to_the_table() -> None:
    async with console("keys") as (app, pilot):
        await wait_for(lambda: len(rows(app, "#keys-table")) >= 3, pilot)
        table = app.screen.query_one("#keys-table", LineTable)
        table.focus()
        await pilot.press("down", "down")
        await pilot.press("slash", "escape")
        await pilot.press("down")  # still moves in the table, from the same row
        assert app.focused is table and table.cursor_row == 3


# --- item 9: the pause ------------------------------------------------------------------------


def _stale_s(app: HashInsightApp) -> int:
    found = re.search(r"stale (\d+)s", status_line(app))
    return int(found.group(1)) if found else -1


async def test_pause_shows_the_real_age_and_keeps_counting() -> None:
    async with console("health") as (app, pilot):
        await wait_for(lambda: app.store.health is not None, pilot)
        app.store.updated_at = time.time() - 8  # what is on screen arrived 8 s ago
        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)
        # data keeps arriving while paused (stream, health re-reads); the screen does not show it
        assert app.store.health is not None
        app.apply_health(app.store.health)  # redraws the status bar at once
        first = _stale_s(app)
        assert first >= 8, status_line(app)
        await wait_for(lambda: _stale_s(app) > first, pilot)  # the clock keeps counting
        await pilot.press("p")
        await wait_for(lambda: "paused" not in status_line(app), pilot)


# --- plumbing ---------------------------------------------------------------------------------


async def test_prompt_bar_sits_above_the_footer() -> None:
    async with console("health", size=NARROW) as (app, pilot):
        await pilot.press("colon")
        bar = app.screen.query_one("PromptBar")
        await wait_for(lambda: bar.region.height >= 1, pilot)
        footer = app.screen.query_one("Footer")
        assert bar.region.bottom <= footer.region.y
        assert isinstance(app.screen, BaseScreen) and isinstance(app.screen, HealthScreen)


def _price_tick(price: float) -> Any:
    from hashinsight_tui.client import StreamEvent

    data = {
        "price_usd": price,
        "as_of": time.time(),
        "source": "coingecko",
        "stale": False,
        "via": "live",
        "change_24h_pct": 1.0,
        "volume_24h_usd": None,
        "market_cap_usd": None,
        "age_s": 0.0,
        "attempts": [],
        "fallback_order": ["coingecko"],
    }
    return StreamEvent("prices", "price.tick", data, time.time())


def _digits(app: HashInsightApp) -> str:
    return str(app.screen.query_one("#prices-digits").value)  # type: ignore[attr-defined]


async def test_a_screen_opened_while_paused_shows_the_data_of_the_pause() -> None:
    """Prices drawn at 97,257, then Fleet for a while, a new price arrives, pause, back to
    Prices: it shows the price of the moment of the pause (what the bar's age is about), not
    the one it drew minutes before; and nothing that arrives after the pause."""
    async with console("prices") as (app, pilot):
        await wait_for(lambda: "97,257" in _digits(app), pilot)
        await pilot.press("3")
        await wait_for(lambda: app.current_mode == "fleet", pilot)
        app.store.apply([_price_tick(101_234.5)])
        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)
        app.store.apply([_price_tick(88_888.0)])  # after the pause: not shown
        await pilot.press("1")
        await wait_for(lambda: app.current_mode == "prices", pilot)
        await wait_for(lambda: "101,234" in _digits(app), pilot)
        await pilot.pause(1.2)
        assert "101,234" in _digits(app)
        await pilot.press("p")
        await wait_for(lambda: "88,888" in _digits(app), pilot)


async def test_ages_on_a_paused_screen_go_on_counting() -> None:
    from hashinsight_tui.client import StreamEvent

    _captured_at, answers = load_recording()
    recorded = answers["GET /api/v1/fleet/summary"]["body"]
    async with console("fleet") as (app, pilot):
        summary = app.screen.query_one("FleetSummaryBar")
        sweep = {**recorded["sweep"], "started_at": time.time() - 3}
        app.store.apply([StreamEvent("miners", "fleet.sweep", {**recorded, "sweep": sweep}, 0.0)])
        await wait_for(lambda: re.search(r"swept \d+s ago", str(summary.render())), pilot)
        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)

        def sweep_age() -> int:
            found = re.search(r"swept (\d+)([smh]) ago", str(summary.render()))
            assert found, str(summary.render())
            return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]

        first = sweep_age()
        await wait_for(lambda: sweep_age() >= first + 2, pilot, 10)


def test_last_seen_is_counted_from_now_not_from_the_last_poll() -> None:
    """A dark miner polled 5 minutes ago was last seen 8 minutes ago: not "3m ago" (the gap
    between the two), and the figure grows while it stays dark."""
    from rich.console import Console

    from hashinsight_tui.screens.miner_detail import fields_table

    now = time.time()
    table = fields_table({"last_seen": now - 480, "polled_at": now - 300, "status": "offline"})
    console_out = Console(width=200, record=True)
    console_out.print(table)
    text = console_out.export_text()
    assert re.search(r"Last seen\s+8m ago", text), text
    assert re.search(r"Polled\s+5m ago", text), text


def test_every_time_on_screen_is_utc_whatever_the_machine_s_zone() -> None:
    """A console in Tokyo showed the command log in local time next to key dates in UTC, with
    no label on either: every time is UTC now, and says so where it stands."""
    from datetime import UTC, datetime

    from hashinsight_tui.screens.miner_detail import log_line
    from hashinsight_tui.widgets.chart import time_label

    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        at = datetime(2026, 12, 7, 22, 39, 15, tzinfo=UTC).timestamp()
        assert log_line({"ts": at, "command": "restart", "state": "succeeded"}).plain.startswith(
            "22:39:15"
        )
        assert time_label(at, 3600) == "22:39"
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


async def test_a_paused_alerts_screen_keeps_the_alerts_of_the_pause() -> None:
    """Alerts arrive on the stream whatever the pause: the paused screen keeps the list it
    showed (rows do not move under the cursor) until it is resumed."""
    async with console("alerts") as (app, pilot):
        await wait_for(lambda: app.alerts.loaded and bool(app.alerts.open), pilot)
        summary = app.screen.query_one("#alerts-summary", Static)

        def open_count() -> int:
            found = re.search(r"(\d+) open", str(summary.render()))
            return int(found.group(1)) if found else -1

        await wait_for(lambda: open_count() == len(app.alerts.open), pilot)
        before = open_count()
        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)
        first = next(iter(app.alerts.open))
        assert app.alerts.apply({"id": first, "state": "cleared", "cleared_at": time.time()})
        await pilot.pause(1.2)  # a clock tick redraws the paused screen
        assert open_count() == before
        await pilot.press("p")
        await wait_for(lambda: open_count() == before - 1, pilot)


async def test_nothing_is_fetched_while_paused_not_even_the_fleet_list() -> None:
    async with console("prices") as (app, pilot):
        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)
        await pilot.press("3")
        await wait_for(lambda: app.current_mode == "fleet", pilot)
        await pilot.pause(1.5)
        assert SNAP_MINERS not in app.store.snapshots  # the list was not asked for
        await pilot.press("p")
        await wait_for(lambda: SNAP_MINERS in app.store.snapshots, pilot)
