"""An honest empty state: says what is not there yet and why, never made-up data."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widget import Widget
from textual.widgets import Static


class EmptyState(Widget):
    DEFAULT_CSS = """
    EmptyState {
        height: 1fr;
    }
    EmptyState .empty-title {
        text-style: bold;
        color: $warning;
        width: auto;
    }
    EmptyState .empty-body {
        width: 72;
        max-width: 100%;
        color: $text-muted;
        padding: 1 2;
        border: round $panel-lighten-2;
    }
    """

    def __init__(self, title: str, body: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(self._title, classes="empty-title")
        with Center():
            yield Static(self._body, classes="empty-body")
