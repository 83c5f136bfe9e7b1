"""Layouts that fit: at 80x24 and 120x36 every footer hint is whole, the Fleet table keeps its
essential columns (the rest one `→` away), every fleet total shows whole, and `?` help names the
keys in effect when `[console.keymap]` remaps them."""

from __future__ import annotations

from typing import Any

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from hashinsight_tui.app import SCREEN_NAMES, ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.fleet import FleetScreen
from hashinsight_tui.screens.help import HelpScreen
from hashinsight_tui.widgets.fleet_summary import FleetSummaryBar
from hashinsight_tui.widgets.fleet_table import COLUMNS, FleetTable, column_pages, fit_widths
from hashinsight_tui.widgets.key_footer import fitting
from tests.console.snapshot_world import URL, replay_client
from tests.console.test_snapshots import until_shown

SIZES = [(80, 24), (120, 36)]
Answers = dict[str, dict[str, Any]]


def console(answers: Answers, screen: str, keymap: dict[str, str] | None = None) -> HashInsightApp:
    options = ConsoleOptions(
        url=URL,
        api_key="hsk_snapshot",
        refresh_s=3600.0,
        start_screen=screen,
        keymap=tuple(sorted((keymap or {}).items())),
    )
    return HashInsightApp(options, client=replay_client(answers))


# --- the footer ---------------------------------------------------------------------------------


def test_hints_that_do_not_fit_fold_into_help_which_always_stays() -> None:
    hints = [("a", 10), ("b", 10), ("help", 8), ("c", 10)]
    assert fitting(hints, 40) == {"a", "b", "help", "c"}
    assert fitting(hints, 29) == {"help", "a", "b"}
    assert fitting(hints, 10) == {"help"}  # help first, even when the screen's own come first
    assert fitting([("a", 10), ("b", 30), ("c", 5)], 20) == {"a"}  # no gaps in the order


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", SCREEN_NAMES)
async def test_every_footer_hint_is_whole(
    screen: str, size: tuple[int, int], answers: Answers
) -> None:
    app = console(answers, screen)
    async with app.run_test(size=size) as pilot:
        await until_shown(screen)(pilot)
        keys = list(app.screen.query(FooterKey))
        palette = [k for k in keys if k.has_class("-command-palette")]
        hints = [k for k in keys if not k.has_class("-command-palette")]
        edge = palette[0].region.x if palette else size[0]
        assert any(k.action == "help" for k in hints), "? help must always be offered"
        for key in hints:
            assert key.region.width > 0 and key.region.right <= edge, (key.description, edge)


# --- the Fleet screen ---------------------------------------------------------------------------


def test_fleet_columns_keep_the_essentials_and_page_the_rest() -> None:
    for sort_key in ("location", "hashrate_ths", "firmware", None):
        chosen = fit_widths(79, sort_key)
        keys = {column.key for column, _width in chosen}
        essential = {"status", "id", "hashrate_ths", "temp_chip_max_c", "age", "error"}
        assert essential <= keys, (sort_key, keys)
        if sort_key is not None:
            assert sort_key in keys  # the sorted column stays in sight
        assert sum(width + 1 for _column, width in chosen) + 2 <= 79
        pages = column_pages(79, sort_key)
        every = [column.key for page in pages for column, _width in page]
        assert set(every) == {column.key for column in COLUMNS}  # every column on some page
        assert all(page[0][0].key == "status" and page[1][0].key == "id" for page in pages)
    error = dict((c.key, w) for c, w in fit_widths(79, "location"))["error"]
    assert error >= 12  # room for "conn refused…" at the least


async def test_fleet_at_80x24_shows_why_a_miner_is_down_and_its_model_one_key_away(
    answers: Answers,
) -> None:
    app = console(answers, "fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        await until_shown("fleet")(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        header = table.render_line(0).text
        assert "Error" in header and "Age" in header and "Model" not in header
        down = next(i for i in screen.model.order if screen.model.miners[i].get("error"))
        table.move_to(down)
        await pilot.pause()
        row = table.render_line(1 + table.cursor_row - int(table.scroll_offset.y)).text
        reason = str(screen.model.miners[down]["error"])
        assert reason[:8] in row, (reason, row)
        note = str(screen.query_one("#fleet-note", Static).render())
        assert "→ columns 1/" in note
        await pilot.press("right")
        await pilot.pause()
        header = table.render_line(0).text
        assert "Model" in header and "Status" in header and "Miner" in header
        assert "← columns" in str(screen.query_one("#fleet-note", Static).render()) or (
            "←→ columns" in str(screen.query_one("#fleet-note", Static).render())
        )
        await pilot.press("left")
        await pilot.pause()
        assert "Error" in table.render_line(0).text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_fleet_total_shows_whole(size: tuple[int, int], answers: Answers) -> None:
    app = console(answers, "fleet")
    async with app.run_test(size=size) as pilot:
        await until_shown("fleet")(pilot)
        bar = app.screen.query_one(FleetSummaryBar)
        lines = [strip.text for strip in bar.render_lines(bar.region.reset_offset)]
        shown = " ".join(" ".join(lines).split())
        for words in ("online", "PH/s", "power", "J/TH", "profit", "open alerts", "ago"):
            assert words in shown, (words, lines)
        assert bar.region.height <= 3


# --- help names the keys in effect ----------------------------------------------------------------


async def test_help_shows_the_keys_the_keymap_put_in_effect(answers: Answers) -> None:
    app = console(answers, "fleet", keymap={"fleet.restart": "R", "app.pause": "f5"})
    async with app.run_test(size=(120, 60)) as pilot:  # tall: every key without scrolling
        await until_shown("fleet")(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one(VerticalScroll).region
        strips = app.screen._compositor.render_strips()[box.y : box.bottom]
        lines = [strip.crop(box.x, box.right).text.strip(" │") for strip in strips]
        restart = next(line for line in lines if "Restart" in line)
        pause = next(line for line in lines if "Pause" in line)
        assert restart.split()[:2] == ["R", "Restart"] and "fleet.restart" in restart
        assert pause.split()[:2] == ["f5", "Pause"] and "app.pause" in pause
        sort = next(line for line in lines if line.split()[1:2] == ["Sort"])
        assert sort.split()[0] == "s"  # not remapped: its own key
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f5")  # and the remapped key is the one that works
        await pilot.pause()
        assert app.paused
