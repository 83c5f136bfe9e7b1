"""Tables and lines that the console redraws every second change only where the text changed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from hashinsight_tui.screens.base import fill_rows
from hashinsight_tui.widgets.repaint import same, show


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="table")
        table.add_column("Name", key="name")
        table.add_column("Age", key="age")
        yield table
        yield Static("", id="line")


def rows(*items: tuple[str, str]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(name, (Text(name, style="bold"), age)) for name, age in items]


async def test_same_rows_update_only_the_changed_cells_and_keep_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(DataTable)
        fill_rows(table, rows(("alpha", "1s"), ("beta", "2s"), ("gamma", "3s")))
        await pilot.pause()
        await pilot.press("down")
        assert table.cursor_row == 1
        written: list[tuple[Any, ...]] = []
        real = table.update_cell

        def spy(*args: Any, **kwargs: Any) -> None:
            written.append(args)
            real(*args, **kwargs)

        table.update_cell = spy  # type: ignore[method-assign]
        fill_rows(table, rows(("alpha", "1s"), ("beta", "2s"), ("gamma", "3s")))
        await pilot.pause()
        fill_rows(table, rows(("alpha", "1s"), ("beta", "5s"), ("gamma", "3s")))
        await pilot.pause()
        assert [(key, str(column.value), value) for key, column, value in written] == [
            ("beta", "age", "5s")
        ]
        assert table.get_row("beta")[1] == "5s" and table.cursor_row == 1


async def test_other_rows_refill_and_the_cursor_stays_on_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(DataTable)
        fill_rows(table, rows(("alpha", "1s"), ("beta", "2s")))
        await pilot.pause()
        await pilot.press("down")
        fill_rows(table, rows(("new", "0s"), ("alpha", "1s"), ("beta", "2s")))
        await pilot.pause()
        assert [str(row.key.value) for row in table.ordered_rows] == ["new", "alpha", "beta"]
        assert table.cursor_row == 2  # still on beta


async def test_a_line_is_redrawn_only_when_its_text_or_style_changed() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        line = app.query_one("#line", Static)
        show(line, Text("4s ago", style="dim"))
        await pilot.pause()
        first = line.content
        show(line, Text("4s ago", style="dim"))
        assert line.content is first  # the same text: left alone
        show(line, Text("4s ago", style="red"))
        assert line.content is not first and line.content.style == "red"  # type: ignore[union-attr]


def test_same_compares_text_style_too() -> None:
    assert same(Text("x", style="red"), Text("x", style="red"))
    assert not same(Text("x", style="red"), Text("x", style="green"))
    assert not same("1", 1)
    assert same("—", "—")
