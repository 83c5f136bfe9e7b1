"""Lines that the console redraws every second change only where the text changed (the tables:
tests/console/test_line_table.py)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from hashinsight_tui.widgets.repaint import same, show


class LineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("", id="line")


async def test_a_line_is_redrawn_only_when_its_text_or_style_changed() -> None:
    app = LineApp()
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
