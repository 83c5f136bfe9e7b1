"""The line-rendered table of the Health screen: the cursor stays on its row when rows re-sort,
enter and header clicks say which row and column, and a second that changes nothing repaints
nothing (only the cells whose text moved on are repainted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.geometry import Region

from hashinsight_tui.screens.health import HealthScreen
from hashinsight_tui.screens.integration_detail import IntegrationDetailScreen
from hashinsight_tui.widgets.line_table import Cell, LineTable, TableColumn
from tests.console.test_operator_trust import console, screen_lines
from tests.helpers import wait_for

COLUMNS = [
    TableColumn("name", "Name"),
    TableColumn("status", "Status"),
    TableColumn("note", "Note", flex=True, width=8),
    TableColumn("checked", "Checked"),
]


def rows(*names: str, checked: str = "5s ago") -> list[tuple[str, Sequence[Cell]]]:
    return [(n, (n, Text("ok", style="green"), f"{n} note", checked)) for n in names]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []
        self.headers: list[str] = []
        self.moved: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS)

    def on_line_table_row_selected(self, event: LineTable.RowSelected) -> None:
        self.selected.append(event.key)

    def on_line_table_header_clicked(self, event: LineTable.HeaderClicked) -> None:
        self.headers.append(event.key)

    def on_line_table_cursor_moved(self, event: LineTable.CursorMoved) -> None:
        self.moved.append(event.key)


async def test_the_cursor_stays_on_its_row_when_rows_resort_and_enter_selects_it() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(LineTable)
        table.focus()
        table.set_rows(rows("alpha", "bravo", "charlie", "delta"))
        await pilot.press("down", "down")
        assert table.cursor_key == "charlie"
        table.set_rows(rows("delta", "charlie", "bravo", "alpha"))  # sorted the other way
        assert (table.cursor_key, table.cursor_row) == ("charlie", 1)
        await pilot.press("enter")
        await wait_for(lambda: app.selected == ["charlie"], pilot)
        await pilot.press("end")
        assert table.cursor_key == "alpha"
        await pilot.press("home")
        assert table.cursor_key == "delta"
        table.set_rows(rows("bravo", "alpha"))  # the row under the cursor went away
        assert table.cursor_key in ("bravo", "alpha")
        await pilot.press("enter")
        await wait_for(lambda: len(app.selected) == 2, pilot)
        assert app.selected[-1] == table.cursor_key


async def test_a_detail_pane_hears_of_each_row_the_cursor_lands_on() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(LineTable)
        table.focus()
        table.set_rows(rows("alpha", "bravo", "charlie"))
        await pilot.press("down", "down", "down")  # the last press stays on charlie: no news
        table.set_rows(rows("charlie", "alpha"))  # re-sorted: still on charlie, no news
        table.set_rows(rows("alpha"))  # charlie went away
        table.set_rows([])
        await wait_for(lambda: app.moved[-1:] == [None], pilot)
        assert app.moved == ["alpha", "bravo", "charlie", "alpha", None]


async def test_a_header_click_names_its_column() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("alpha", "bravo"))
        await pilot.pause()
        start = table.column_widths()[0] + 2  # past the first column and its padding
        await pilot.click(LineTable, offset=(start + 1, 0))
        await pilot.click(LineTable, offset=(1, 0))
        await wait_for(lambda: len(app.headers) == 2, pilot)
        assert app.headers == ["status", "name"]


class SortedAndStillApp(App[None]):
    def compose(self) -> ComposeResult:
        marks = [TableColumn("sign", "Signed"), TableColumn("pin", "Pinned")]
        yield LineTable(marks, id="sorted")
        yield LineTable(marks, sortable=False, id="still")


async def test_a_table_that_never_sorts_keeps_no_room_for_a_sort_mark() -> None:
    """Its columns are only as wide as their labels: a narrow terminal shows more of them."""
    app = SortedAndStillApp()
    async with app.run_test(size=(40, 12)) as pilot:
        for table in app.query(LineTable):
            table.set_rows([("a", ("✓", "✓"))])
        await pilot.pause()
        assert app.query_one("#sorted", LineTable).column_widths() == [7, 7]
        still = app.query_one("#still", LineTable)
        assert still.column_widths() == [6, 6]
        assert still.virtual_size.width == 2 * (6 + 2)


class TwoTablesApp(App[None]):
    """Two tables on one screen, each heard by its own id."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[str, str | None]] = []

    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, id="upper")
        yield LineTable(COLUMNS, id="lower")

    @on(LineTable.RowSelected, "#lower")
    def _lower_selected(self, event: LineTable.RowSelected) -> None:
        self.heard.append(("selected", event.key))

    @on(LineTable.CursorMoved, "#lower")
    def _lower_moved(self, event: LineTable.CursorMoved) -> None:
        self.heard.append(("moved", event.key))


async def test_a_screen_with_two_tables_hears_each_by_its_id() -> None:
    app = TwoTablesApp()
    async with app.run_test(size=(80, 20)) as pilot:
        upper, lower = app.query_one("#upper", LineTable), app.query_one("#lower", LineTable)
        upper.set_rows(rows("alpha", "bravo"))
        upper.focus()
        await pilot.press("down", "enter")  # the upper table's news: not for the lower's handlers
        lower.set_rows(rows("charlie", "delta"))
        lower.focus()
        await pilot.press("down", "enter")
        await wait_for(lambda: ("selected", "delta") in app.heard, pilot)
        assert app.heard == [("moved", "charlie"), ("moved", "delta"), ("selected", "delta")]


async def test_unchanged_rows_repaint_nothing_and_a_new_age_only_its_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("alpha", "bravo", "charlie"))
        await pilot.pause()
        repainted: list[tuple[Region, ...]] = []
        real_refresh = table.refresh

        def refresh(*regions: Region, **kw: Any) -> LineTable:
            repainted.append(regions)
            return real_refresh(*regions, **kw)

        table.refresh = refresh  # type: ignore[method-assign]
        table.set_rows(rows("alpha", "bravo", "charlie"))  # the same text, new objects
        assert repainted == []
        changed = rows("alpha", "bravo", "charlie")
        changed[1] = ("bravo", (*changed[1][1][:3], "6s ago"))
        table.set_rows(changed)
        assert len(repainted) == 1 and len(repainted[0]) == 1
        region = repainted[0][0]
        checked_x = sum(width + 2 for width in table.column_widths()[:3])
        assert (region.x, region.y, region.height) == (checked_x, 2, 1)  # bravo's line only
        assert region.width == table.column_widths()[3] + 2
        await pilot.pause()
        lines = [str(table.render_line(y).text) for y in range(4)]
        assert "6s ago" in lines[2] and "5s ago" in lines[1] and "5s ago" in lines[3]


async def test_health_header_click_sorts_and_enter_opens_the_row_under_the_cursor() -> None:
    async with console("health") as (app, pilot):
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one(LineTable)
        await wait_for(lambda: table.row_count > 3, pilot)
        names = [key for key, _cells in table.rows]
        await pilot.press("down", "down")
        chosen = table.cursor_key
        assert chosen == names[2]
        x = table._column_starts()[0] + 1  # the Integration header
        await pilot.click("#health-table", offset=(x, 0))
        await wait_for(lambda: screen.sort_column == "name", pilot)
        by_name = [key for key, _cells in table.rows]
        assert by_name == sorted(by_name) and table.cursor_key == chosen
        assert any("▲Integration" in line for line in screen_lines(app))
        await pilot.click("#health-table", offset=(x, 0))  # the same column again: reversed
        await wait_for(lambda: screen.sort_reverse, pilot)
        assert [key for key, _cells in table.rows] == by_name[::-1]
        assert table.cursor_key == chosen
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, IntegrationDetailScreen), pilot)
        detail = app.screen
        assert isinstance(detail, IntegrationDetailScreen)
        assert detail.integration_name == chosen


async def test_the_cursor_row_is_always_on_screen() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(LineTable)
        table.focus()
        table.set_rows(rows(*(f"miner{i:02}" for i in range(40))))
        await pilot.pause()  # laid out at its new height
        await pilot.press("end")
        await pilot.pause()
        top = int(table.scroll_offset.y)
        assert table.cursor_row == 39 and top <= 39 < top + table.body_height
        await pilot.press("home")
        await pilot.pause()
        assert int(table.scroll_offset.y) == 0
