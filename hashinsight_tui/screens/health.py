"""The Health screen: every integration's live status, latency, last check, last success and last
error, and the fleet's pollers with their last sweep.

A status is only as good as its last check: an integration checked once and then never again is
shown `stale` (its last check is older than the backend says checks of it should be), and one
never checked is `unknown`, whatever it was registered as."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from hashinsight_tui.client import ApiError, ConnectionLost, Integration
from hashinsight_tui.format import DASH, age, latency, since, status_text
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.integration_detail import IntegrationDetailScreen
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.line_table import LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show

COLUMNS: list[tuple[str, str]] = [
    ("name", "Integration"),
    ("kind", "Kind"),
    ("status", "Status"),
    ("latency_ms", "Latency"),
    ("last_check", "Checked"),
    ("failures", "Failures/Checks"),
    ("last_error", "Last error / detail"),
    ("last_success", "Last success"),
]
# The error or detail takes the width the others leave; the rest are as wide as their widest cell.
TABLE_COLUMNS = [
    TableColumn(key, label, flex=True, width=20) if key == "last_error" else TableColumn(key, label)
    for key, label in COLUMNS
]
STATUS_ORDER = {"down": 0, "degraded": 1, "stale": 2, "unknown": 3, "ok": 4, "disabled": 5}


def shown_status(item: Integration, now: float | None = None) -> str:
    """The status to believe: `unknown` until a check ran, `stale` once checks stopped coming."""
    if item.status in ("disabled", "unknown"):
        return item.status
    if item.last_check is None and item.checks == 0 and item.last_success is None:
        return "unknown"  # registered with a status, never checked (or an older backend)
    after = item.stale_after_s
    if item.last_check is not None and after is not None:
        return "stale" if (now or time.time()) - item.last_check > after else item.status
    return item.status


def status_cell(item: Integration, now: float) -> Text:
    shown = shown_status(item, now)
    if shown == "stale":
        return Text(f"{item.status} (stale)", style="bold yellow")
    return status_text(shown)


def _sort_value(item: Integration, column: str) -> Any:
    if column == "status":
        return STATUS_ORDER.get(shown_status(item), 9)
    value = getattr(item, column)
    if value is None:
        return (1, 0) if column != "name" else (1, "")
    return (0, value)


class HealthScreen(BaseScreen):
    SCREEN_TITLE = "Health"
    # Every check and every sweep updates a row (several a second on a busy site); each row shows
    # when it was last checked, so once a second is as true and costs a third of the CPU. The
    # table repaints only the cells whose text moved on: mostly the ages.
    RENDER_ON_TICK = True
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "status": tuple(STATUS_ORDER),
        "sort": tuple(key for key, _ in COLUMNS),
        "q": (),
    }
    FILTER_ARGUMENTS: ClassVar[tuple[str, ...]] = ("q", "status")
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"recheck"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "drill_down", "Details", id="health.details"),
        Binding("s", "sort_next", "Sort", id="health.sort"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="health.sort_reverse"),
        Binding("r", "recheck", "Recheck now", id="health.recheck"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_column = "status"
        self.sort_reverse = False
        self.filter_text = ""
        self.status_filter = ""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="health-summary"):
            yield Static("", id="health-overall")
            yield Static("", id="health-backend")
        yield LineTable(TABLE_COLUMNS, id="health-table")
        yield Static("", id="health-note")

    def refresh_view(self, store: Store) -> None:
        overall = self.query_one("#health-overall", Static)
        backend = self.query_one("#health-backend", Static)
        note = self.query_one("#health-note", Static)
        if store.health is None:
            show(overall, Text("waiting for the backend…", style="yellow"))
            show(backend, "")
            show(note, store.detail)
            return
        report = store.health
        show(overall, Text.assemble("Overall ", status_text(report.status)))
        show(
            backend,
            Text(
                f"backend {report.version} · {report.mode} · up {age(report.uptime_s)} · "
                f"bus {report.bus.published} events, {report.bus.dropped} "
                f"dropped · {report.websocket_clients} stream clients",
                style="dim",
            ),
        )
        rows = [
            item
            for item in store.integrations.values()
            if self.filter_text.lower() in f"{item.name} {item.kind} {shown_status(item)}".lower()
            and (not self.status_filter or shown_status(item) == self.status_filter)
        ]
        rows.sort(key=lambda item: _sort_value(item, self.sort_column), reverse=self.sort_reverse)
        self._fill(rows)
        status = f"status={self.status_filter}" if self.status_filter else ""
        active = f"{status} {self.filter_text}".strip()
        shown = f"{len(rows)} of {len(store.integrations)}" if active else len(rows)
        filt = f" · filter '{active}'" if active else ""
        arrow = "↓" if self.sort_reverse else "↑"
        show(
            note,
            Text(f"{shown} integrations · sorted by {self.sort_column} {arrow}{filt}", style="dim"),
        )

    def _fill(self, rows: list[Integration]) -> None:
        now = self.hi_app.clock_now
        cells = [
            (
                item.name,
                (
                    item.name,
                    item.kind,
                    status_cell(item, now),
                    latency(item.latency_ms),
                    since(item.last_check, now) if item.last_check is not None else "not yet",
                    f"{item.failures}/{item.checks}",
                    _note(item),
                    since(item.last_success, now) if item.checks else DASH,
                ),
            )
            for item in rows
        ]
        table = self.query_one(LineTable)
        table.set_rows(cells)
        table.show_sort(self.sort_column, self.sort_reverse)

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self.refresh_view(self.hi_app.store)

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        self.status_filter = arguments.get("status", "").lower()
        super().apply_arguments(arguments)
        if "sort" in arguments and arguments["sort"] in dict(COLUMNS):
            self.sort_column = arguments["sort"]
            self.refresh_view(self.hi_app.store)

    def action_sort_next(self) -> None:
        keys = [key for key, _ in COLUMNS]
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        self.refresh_view(self.hi_app.store)

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.refresh_view(self.hi_app.store)

    @on(LineTable.HeaderClicked)
    def _header(self, event: LineTable.HeaderClicked) -> None:
        column = event.key
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        self.sort_column = column
        self.refresh_view(self.hi_app.store)

    @on(LineTable.RowSelected)
    def _row_selected(self, event: LineTable.RowSelected) -> None:
        self.app.push_screen(IntegrationDetailScreen(event.key))

    def action_drill_down(self) -> None:
        name = self.query_one(LineTable).cursor_key
        if name is not None:
            self.app.push_screen(IntegrationDetailScreen(name))

    @work(exclusive=True, group="recheck")
    async def action_recheck(self) -> None:
        if self.hi_app.client is None:
            return
        self.notify("Running every health check…")
        try:
            report = await self.hi_app.client.check_health_now()
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Recheck failed: {exc}", severity="error")
            return
        self.hi_app.apply_health(report)
        self.notify(f"Health: {report.status}")


def _note(item: Integration) -> Text:
    """The last error while it is the latest news, else what the last check said."""
    failing = item.last_error and (item.last_success or 0) <= (item.last_error_at or 0)
    if failing or (item.last_error and not item.detail):
        return Text(item.last_error or "", style="red", overflow="ellipsis")
    return Text(item.detail or "", style="dim", overflow="ellipsis")
