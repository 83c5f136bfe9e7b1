"""Drill-down on one integration: every field, live."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from hashinsight_tui.format import DASH, latency, since, status_text

if TYPE_CHECKING:
    from hashinsight_tui.app import HashInsightApp


class IntegrationDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    IntegrationDetailScreen { align: center middle; }
    IntegrationDetailScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "app.pop_screen", "Back", id="detail.back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.integration_name = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{self.integration_name}[/b]  (esc to go back)")
            yield Static(id="detail-body")

    def on_mount(self) -> None:
        self.refresh_detail()
        self.set_interval(1.0, self.refresh_detail)

    def refresh_detail(self) -> None:
        app: HashInsightApp = self.app  # type: ignore[assignment]
        item = app.store.integrations.get(self.integration_name)
        body = self.query_one("#detail-body", Static)
        if item is None:
            body.update("This integration is no longer reported by the backend.")
            return
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("Status", status_text(item.status))
        table.add_row("Kind", item.kind)
        table.add_row("Target", item.target)
        table.add_row("Latency", latency(item.latency_ms))
        table.add_row("Last success", since(item.last_success))
        table.add_row("Checks / failures", f"{item.checks} / {item.failures}")
        table.add_row("Last error", item.last_error or "none")
        table.add_row("Last error at", since(item.last_error_at) if item.last_error_at else DASH)
        table.add_row("Detail", item.detail or DASH)
        body.update(table)
