"""The Fleet screen: summary bar, heat-map grid and table of every miner, drill-down and actions.

Data: a REST snapshot (summary each refresh; the whole light miner list when the screen opens and
every FULL_REFRESH_S as a consistency net) plus the `miners` stream, merged into one FleetModel
in one batch per refresh. The stream's `miner.update` is deadbanded (for partners); each sweep's
`fleet.readings` brings every polled miner's readings, so every row is as of the last sweep and
shows its age. Widgets draw only what is on screen, so 10,000 miners stay responsive.

Actions are offered only where the miner's firmware supports them (the detail's `capabilities`,
when the backend states them); a command's outcome quotes the backend's verification.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, OptionList, Static
from textual.widgets.option_list import Option

from hashinsight_contract.fleet import FleetSummary, PoolOut
from hashinsight_tui.client import ApiError, ConnectionLost, HashInsightClient
from hashinsight_tui.fleet_model import (
    FILTER_KEYS,
    PROBLEM_TEXT,
    STATUSES,
    FleetModel,
    as_dict,
    page_items,
    problem,
    shown_status,
)
from hashinsight_tui.format import DASH, ago
from hashinsight_tui.messages import SnapshotFailed, SnapshotsLoaded
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import ConfirmScreen
from hashinsight_tui.screens.miner_detail import (
    SNAP_COMMANDS,
    MinerDetailScreen,
    log_line,
    merged_log,
    shown_state,
)
from hashinsight_tui.store import Store, newest
from hashinsight_tui.widgets.empty_state import EmptyState
from hashinsight_tui.widgets.fleet_grid import STATUS_COLOURS, TEMP_BANDS, FleetGrid
from hashinsight_tui.widgets.fleet_summary import FleetSummaryBar
from hashinsight_tui.widgets.fleet_table import (
    COLUMN_KEYS,
    COLUMNS,
    FleetTable,
    fmt_num,
    location_text,
)
from hashinsight_tui.widgets.fleet_view import FleetView
from hashinsight_tui.widgets.repaint import show

FULL_REFRESH_S = 300.0  # the stream carries changes; this is only a consistency net
RETRY_LOAD_S = 5.0
PAGE_SIZE = 2500
MAX_CONCURRENT_ACKS = 8
MAX_CAPABILITY_CHECKS = 200  # a bigger bulk command is sent as is; each miner answers for itself
COMMAND_LOG_LIMIT = 200
SORT_LABELS = {column.key: column.label for column in COLUMNS} | {"location": "Location"}
SORT_KEYS = tuple(dict.fromkeys(("location", *COLUMN_KEYS)))  # each column once
# The commands the screen sends (each behind a confirmation), as people say them.
COMMANDS: dict[str, str] = {
    "restart": "Restart",
    "switchpool": "Switch pool on",
    "sleep": "Put to sleep",
    "wake": "Wake",
}
SNAP_SUMMARY = "fleet.summary"
SNAP_MINERS = "fleet.miners"
SNAP_UNAVAILABLE = "fleet.unavailable"


async def load_all_miners(client: HashInsightClient) -> list[dict[str, Any]]:
    """Every miner, page by page, in the light list form."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = await client.miners(fields="summary", limit=PAGE_SIZE, offset=offset)
        batch, total = page_items(page)
        items.extend(batch)
        offset += len(batch)
        if not batch or total is None or offset >= total:
            return items


def command_results(value: Any) -> list[dict[str, Any]]:
    data = as_dict(value)
    if isinstance(data, dict) and "results" in data:
        return [as_dict(item) for item in data["results"]]
    return data if isinstance(data, list) else [data]


def describe_results(verb: str, results: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """One notification for a bulk result: counts by state, what the backend verified (its own
    words for one miner), and the first refusal's reason."""
    counts: dict[str, int] = {}
    for result in results:
        counts[shown_state(result)] = counts.get(shown_state(result), 0) + 1
    parts = [f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items())]
    text = f"{verb}: " + ", ".join(parts)
    judged = [r for r in results if r.get("verified") is not None or r.get("verification")]
    if len(results) == 1 and results[0].get("verification"):
        text += f" — {results[0]['verification']}"
    elif judged:
        verified = sum(1 for r in judged if r.get("verified"))
        text += f" ({verified} of {len(results)} verified)"
    unverified = [r for r in judged if r.get("verified") is False]
    bad = [r for r in results if r.get("state") in ("failed", "refused")]
    if bad:
        text += f" — {bad[0].get('miner_id')}: {bad[0].get('result') or 'no reason given'}"
        return text, "error" if len(bad) == len(results) else "warning"
    if counts.get("pending_approval"):
        text += " (a second operator must approve)"
        return text, "warning"
    if unverified:
        return text, "warning"
    return text, "information"


def unsupported(miner: Mapping[str, Any], command: str) -> str | None:
    """Why the miner's firmware cannot take `command` (None: it can, or the backend does not
    say, in which case the command is offered as before and the miner answers for itself)."""
    capabilities = miner.get("capabilities")
    if not isinstance(capabilities, Mapping):
        return None
    capability = capabilities.get(command)
    if not isinstance(capability, Mapping) or capability.get("supported", True):
        return None
    return str(capability.get("reason") or "not supported by this firmware")


def coverage_text(covered: int | None, base: int | None) -> str:
    return "" if covered is None or base is None else f"{covered}/{base}"


def newest_summary(store: Store) -> dict[str, Any] | None:
    """The summary from the stream (`fleet.sweep`) or the REST snapshot, whichever is newer."""
    return newest(store, SNAP_SUMMARY, "miners", "fleet.sweep", _summary, _sweep_started)


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    return as_dict(FleetSummary.model_validate(data))


def _sweep_started(summary: Mapping[str, Any]) -> Any:
    return (summary.get("sweep") or {}).get("started_at")


def miner_line(
    miner: Mapping[str, Any] | None, age: float | None = None, stale: bool = False
) -> Text:
    """One line about the miner under the cursor (the grid shows no text of its own)."""
    if miner is None:
        return Text("no miner under the cursor", style="dim")
    status = shown_status(miner) or DASH
    colour = {"online": "green", "offline": "red", "error": "magenta", "sleeping": "blue"}
    text = Text.assemble(
        (f"● {status}", colour.get(status, "bold red")),
        "  ",
        (str(miner.get("id")), "bold"),
        f"  {location_text(miner)}  {miner.get('model') or DASH}",
        f"  {fmt_num(miner.get('hashrate_ths'))} TH/s",
        f"  {fmt_num(miner.get('power_w'), 0)} W",
        f"  chip {fmt_num(miner.get('temp_chip_max_c'), 0)}°",
    )
    if age is not None:
        text.append(f"  polled {ago(age)}", style="bold yellow" if stale else "dim")
        if stale:
            text.append(" (stale)", style="bold yellow")
    reason = miner.get("error") or PROBLEM_TEXT.get(problem(miner) or "")
    if reason:
        text.append(f"  {reason}", style="red")
    return text


def grid_legend(mode: str) -> Text:
    """What the heat-map colours mean, in the colours themselves."""
    text = Text()
    if mode == "temperature":
        bounds = [f"<{limit:.0f}" for limit, _ in TEMP_BANDS[:-1]] + [f"≥{TEMP_BANDS[-2][0]:.0f}°C"]
        for label, (_, colour) in zip(bounds, TEMP_BANDS, strict=True):
            text.append(f"■{label} ", style=colour)
        return text
    for name, label in (
        ("online", "ok"),
        ("degraded", "<90%"),
        ("problem", "no hash/pool"),
        ("offline", "offline"),
        ("error", "error"),
        ("sleeping", "asleep"),
    ):
        text.append(f"■{label} ", style=STATUS_COLOURS[name])
    return text


class PoolPickerScreen(ModalScreen[int | None]):
    """Which pool to switch to: the miner's own pools, by their index."""

    DEFAULT_CSS = """
    PoolPickerScreen { align: center middle; }
    PoolPickerScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 80%;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    PoolPickerScreen OptionList { height: auto; max-height: 12; }
    """
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, pools: Sequence[PoolOut]) -> None:
        super().__init__()
        self.title_text = title
        self.pools = list(pools)

    def compose(self) -> ComposeResult:
        options = []
        for index, pool in enumerate(self.pools):
            active = " (active)" if pool.active else ""
            label = f"{index}: {pool.url or DASH}  {pool.user or ''}"
            status = pool.status or DASH
            options.append(Option(f"{label}  [{status}]{active}", id=str(index)))
        with Vertical():
            yield Static(self.title_text)
            yield OptionList(*options, id="pool-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SortPickerScreen(ModalScreen[tuple[str, bool] | None]):
    """Sort by any column, either way: one line per column and direction."""

    DEFAULT_CSS = """
    SortPickerScreen { align: center middle; }
    SortPickerScreen > Vertical {
        width: 40; max-width: 100%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    SortPickerScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str, desc: bool) -> None:
        super().__init__()
        self.current, self.desc = current, desc

    def compose(self) -> ComposeResult:
        options = []
        for key in SORT_KEYS:
            label = SORT_LABELS.get(key, key)
            for desc in (False, True):
                mark = " (now)" if (key, desc) == (self.current, self.desc) else ""
                arrow = "▼ descending" if desc else "▲ ascending"
                options.append(Option(f"{label:<10} {arrow}{mark}", id=f"{key}:{int(desc)}"))
        with Vertical():
            yield Static("Sort the fleet by")
            yield OptionList(*options, id="sort-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        index = options.get_option_index(f"{self.current}:{int(self.desc)}")
        options.highlighted = index

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        key, _sep, desc = (event.option.id or "").rpartition(":")
        self.dismiss((key, desc == "1"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class FleetScreen(BaseScreen):
    DEFAULT_CSS = """
    FleetScreen #fleet-views { height: 1fr; }
    FleetScreen #fleet-empty { height: 1fr; }
    FleetScreen #fleet-log {
        height: auto; max-height: 10; padding: 0 1; border-top: solid $panel-lighten-2;
    }
    FleetScreen #fleet-cursor { height: 1; padding: 0 1; background: $panel; }
    FleetScreen #fleet-note { height: 1; padding: 0 1; }
    """
    SCREEN_TITLE = "Fleet"
    CHANNELS: ClassVar[tuple[str, ...]] = ("miners", "readings", "alerts")
    FILTER_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        key: STATUSES if key == "status" else () for key in FILTER_KEYS
    }
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        **FILTER_FIELDS,
        "sort": SORT_KEYS,
        "order": ("asc", "desc"),
        "view": ("table", "grid"),
        "q": (),
    }
    FILTER_ARGUMENTS: ClassVar[tuple[str, ...]] = ("q", *FILTER_KEYS)
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"restart", "switch_pool", "sleep", "wake", "acknowledge"}
    )
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "drill_down", "Details", id="fleet.details"),
        Binding("v", "toggle_view", "Grid/Table", show=False, id="fleet.view"),
        Binding("t", "toggle_colour", "Status/Temp", show=False, id="fleet.colour"),
        Binding("s", "sort_next", "Sort", id="fleet.sort"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="fleet.sort_reverse"),
        Binding("O", "sort_pick", "Sort by…", show=False, id="fleet.sort_pick"),
        Binding("space", "toggle_select", "Select", show=False, id="fleet.select"),
        Binding("a,ctrl+a", "select_all", "Select all", show=False, id="fleet.select_all"),
        Binding("escape", "clear_selection", "Clear", show=False, id="fleet.clear"),
        Binding("r", "restart", "Restart", id="fleet.restart"),
        # the rest is listed by `?`: a footer hint is never cut in half at 80 columns
        Binding("o", "switch_pool", "Pool", show=False, id="fleet.pool"),
        Binding("z", "sleep", "Sleep", show=False, id="fleet.sleep"),
        Binding("w", "wake", "Wake", show=False, id="fleet.wake"),
        Binding("k", "acknowledge", "Ack alerts", show=False, id="fleet.ack"),
        Binding("L", "toggle_log", "Log", show=False, id="fleet.log"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.model = FleetModel()
        self.view = "table"
        self.log_visible = False
        self.command_log: deque[dict[str, Any]] = deque(maxlen=COMMAND_LOG_LIMIT)
        self.arg_filters: dict[str, str] = {}
        self.filter_text = ""
        self._applied_snapshot: object = None
        self._arrived: tuple[int, float | None] = (-1, None)  # the store as last applied
        self._next_full = 0.0
        self._loading = False
        self._bulk_seq = 0  # the last `fleet.readings` applied (Store.bulk numbering)
        self.last_apply_s = 0.0  # time the last refresh spent merging data into the model

    # --- layout -----------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield FleetSummaryBar(id="fleet-summary")
        yield EmptyState("Fleet: not available", "", id="fleet-empty")
        with ContentSwitcher(initial="fleet-table", id="fleet-views"):
            yield FleetTable(self.model, id="fleet-table")
            yield FleetGrid(self.model, id="fleet-grid")
        yield Static("", id="fleet-log")
        yield Static("", id="fleet-cursor")
        yield Static("", id="fleet-note")

    def on_mount(self) -> None:
        self.query_one("#fleet-empty").display = False
        self.query_one("#fleet-log").display = False
        for view in self.query(FleetView):
            view.clock = self._clock_now
        self.query_one(FleetTable).focus()

    def _clock_now(self) -> float:
        return self.hi_app.clock_now

    @property
    def active_view(self) -> FleetTable | FleetGrid:
        if self.view == "grid":
            return self.query_one(FleetGrid)
        return self.query_one(FleetTable)

    @property
    def cursor_id(self) -> str | None:
        return self.active_view.cursor_id

    # --- data ---------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        """The summary (and the command log when shown); the miner list loads on its own."""
        try:
            values: dict[str, Any] = {SNAP_SUMMARY: as_dict(await client.fleet_summary())}
        except ApiError as exc:
            if exc.status in (404, 503):  # an older backend, or one without the fleet service
                return {SNAP_UNAVAILABLE: exc.message}
            raise
        values[SNAP_UNAVAILABLE] = None
        if self.log_visible:
            values[SNAP_COMMANDS] = page_items(await client.fleet_commands(None))[0]
        return values

    def _maybe_load_all(self, store: Store) -> None:
        """Load every miner when the screen first shows, after a reconnect, and now and then.

        Its own worker, not the snapshot tick's: 10,000 rows can take longer than one tick,
        and the tick's worker is replaced at every tick.
        """
        if self.hi_app.paused:  # nothing is fetched while paused (`p`); it loads on resume
            return
        if store.state != "connected":
            self._next_full = 0.0  # events may be lost while away: reload everything on return
            return
        if self._loading or time.monotonic() < self._next_full or self.hi_app.client is None:
            return
        self._loading = True
        self.run_worker(self._load_all(self.hi_app.client), group="fleet-load", exclusive=True)

    async def _load_all(self, client: HashInsightClient) -> None:
        try:
            items = await load_all_miners(client)
        except (ApiError, ConnectionLost) as exc:
            self.app.post_message(SnapshotFailed(self.SCREEN_TITLE, str(exc)))
            self._next_full = time.monotonic() + RETRY_LOAD_S
        else:
            self.app.post_message(SnapshotsLoaded({SNAP_MINERS: items}))
            self._next_full = time.monotonic() + FULL_REFRESH_S
        finally:
            self._loading = False

    def refresh_view(self, store: Store) -> None:
        unavailable = store.snapshots.get(SNAP_UNAVAILABLE)
        empty = self.query_one("#fleet-empty", EmptyState)
        views = self.query_one("#fleet-views")
        if unavailable:
            empty.display, views.display = True, False
            self.query_one("#fleet-note", Static).update(
                Text(f"This backend has no fleet service ({unavailable}).", style="yellow")
            )
            return
        empty.display, views.display = False, True
        self._maybe_load_all(store)
        snapshot = store.snapshots.get(SNAP_MINERS)
        arrived = (store.events_applied, store.updated_at)
        changed: set[str] | frozenset[str] = frozenset()  # nothing arrived: only time moved on
        if arrived != self._arrived or snapshot is not self._applied_snapshot:
            self._arrived = arrived
            changed = self._apply(store, snapshot)
        summary = newest_summary(store)
        interval = ((summary or {}).get("sweep") or {}).get("interval_s")
        if interval:
            self.model.interval_s = float(interval)
        self.query_one(FleetSummaryBar).show(summary, self.hi_app.clock_now)
        self._sync(changed)
        if isinstance(self.active_view, FleetTable):
            self.active_view.tick()  # the ages that moved on, and rows that just went stale
        if self.log_visible:
            self._show_log(store)

    def _apply(self, store: Store, snapshot: list[dict[str, Any]] | None) -> frozenset[str]:
        """Take what arrived since the last refresh (a reload, updates, sweeps' readings);
        return the rows to repaint (none after a reload: the whole view repaints)."""
        started = time.perf_counter()
        full = False
        if snapshot is not None and snapshot is not self._applied_snapshot:
            self._applied_snapshot = snapshot
            self.model.replace_all(snapshot)
            full = True
        changed = self.model.apply_updates(
            m for m in store.latest.get("miners", {}).values() if "id" in m
        )
        readings, dropped = store.bulk_since(self._bulk_seq)
        self._bulk_seq = store.bulk_seq
        if dropped:
            self._next_full = 0.0  # sweeps were missed: reload every row at the next chance
        for event in readings:
            data = event.data
            if data.get("interval_s"):
                self.model.interval_s = float(data["interval_s"])
            if data.get("polled_at") is not None:
                changed |= self.model.apply_readings(
                    data.get("fields") or (), data.get("rows") or (), float(data["polled_at"])
                )
        self.last_apply_s = time.perf_counter() - started
        return frozenset() if full else frozenset(changed)

    def _sync(self, changed: set[str] | frozenset[str] = frozenset()) -> None:
        view = self.active_view
        view.sync(changed)
        cursor = view.cursor_id
        if cursor is not None:
            self._show_cursor(cursor)  # its age moves on even when its readings do not
        self._show_note()

    def _show_cursor(self, miner_id: str | None) -> None:
        miner = self.model.get(miner_id) if miner_id else None
        now = self.hi_app.clock_now
        age = self.model.age_s(miner_id, now) if miner_id else None
        stale = miner_id is not None and self.model.is_stale(miner_id, now)
        show(self.query_one("#fleet-cursor", Static), miner_line(miner, age, stale))

    def _show_note(self) -> None:
        model = self.model
        shown = len(model.order)
        total = len(model)
        if total == 0 and self._applied_snapshot is None:
            self.query_one("#fleet-note", Static).update(Text("loading the fleet…", style="dim"))
            return
        if total == 0:
            self.query_one("#fleet-note", Static).update(
                Text("The backend watches no miners yet (see its fleet configuration).", "yellow")
            )
            return
        parts = [f"{shown} of {total} miners" if shown != total else f"{total} miners"]
        if model.selected:
            parts.append(f"{len(model.selected)} selected")
        arrow = "▼" if model.sort_desc else "▲"
        parts.append(f"sorted by {SORT_LABELS.get(model.sort_key, model.sort_key)} {arrow}")
        active = " ".join(f"{k}={v}" for k, v in model.filters.items())
        if model.text:
            active = f"{active} {model.text}".strip()
        if active:
            parts.append(f"filter '{active}'")
        if self.view == "table":
            table = self.query_one(FleetTable)
            pages = len(table.column_pages())
            if pages > 1:  # columns left out at this width are one key away
                page = min(table.column_page, pages - 1) + 1
                arrows = ("←" if page > 1 else "") + ("→" if page < pages else "")
                parts.append(f"{arrows} columns {page}/{pages}")
        note = Text(" · ".join(parts), style="dim")
        if self.view == "grid":
            note.append("  ")
            note.append_text(grid_legend(self.query_one(FleetGrid).mode))
        show(self.query_one("#fleet-note", Static), note)

    @on(FleetView.CursorMoved)
    def _cursor_moved(self, event: FleetView.CursorMoved) -> None:
        self._show_cursor(event.miner_id)

    @on(FleetTable.ColumnsMoved)
    def _columns_moved(self, _event: FleetTable.ColumnsMoved) -> None:
        self._show_note()

    # --- filter, sort, view -------------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self.model.set_filter(text, self.arg_filters)
        self._sync()

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        """`:fleet status=offline site=A model=S19 sort=temp_chip_max_c view=grid q=text`."""
        self.arg_filters = {k: v for k, v in arguments.items() if k in FILTER_KEYS}
        if "sort" in arguments:
            if arguments["sort"] in SORT_KEYS:
                desc = arguments.get("order", "asc").lower().startswith("desc")
                self.model.sort_key, self.model.sort_desc = arguments["sort"], desc
            else:
                known = ", ".join(SORT_KEYS)
                self.notify(f"Cannot sort by {arguments['sort']!r}; try {known}", severity="error")
        if arguments.get("view") in ("grid", "table") and arguments["view"] != self.view:
            self.action_toggle_view()
        self.apply_filter(arguments.get("q", ""))

    def action_sort_next(self) -> None:
        current = self.model.sort_key
        index = SORT_KEYS.index(current) if current in SORT_KEYS else -1
        self.model.set_sort(SORT_KEYS[(index + 1) % len(SORT_KEYS)], desc=False)
        self._sync()

    def action_sort_pick(self) -> None:
        def chosen(choice: tuple[str, bool] | None) -> None:
            if choice is not None:
                self.model.set_sort(choice[0], desc=choice[1])
                self._sync()

        self.app.push_screen(SortPickerScreen(self.model.sort_key, self.model.sort_desc), chosen)

    def action_sort_reverse(self) -> None:
        self.model.set_sort(self.model.sort_key, desc=not self.model.sort_desc)
        self._sync()

    @on(FleetTable.HeaderClicked)
    def _header(self, event: FleetTable.HeaderClicked) -> None:
        self.model.set_sort(event.key)
        self._sync()

    def action_toggle_view(self) -> None:
        cursor = self.cursor_id
        self.view = "grid" if self.view == "table" else "table"
        switcher = self.query_one(ContentSwitcher)
        switcher.current = f"fleet-{self.view}"
        view = self.active_view
        view.focus()
        self.call_after_refresh(self._after_view_switch, cursor)

    def _after_view_switch(self, cursor: str | None) -> None:
        view = self.active_view
        view.sync()
        if cursor is not None:
            view.move_to(cursor)
        self._show_note()

    def action_toggle_colour(self) -> None:
        if self.view != "grid":
            self.action_toggle_view()
        mode = self.query_one(FleetGrid).toggle_mode()
        self.notify(f"Grid coloured by {mode}")
        self._show_note()

    # --- selection and drill-down -------------------------------------------------------------

    def action_toggle_select(self) -> None:
        cursor = self.cursor_id
        if cursor is None:
            return
        self.model.toggle(cursor)
        view = self.active_view
        if isinstance(view, FleetTable):
            view.action_move(0, 1)
        view.refresh()
        self._show_note()

    def action_select_all(self) -> None:
        self.model.select_visible()
        self.active_view.refresh()
        self._show_note()

    def action_clear_selection(self) -> None:
        if not self.model.selected:
            raise SkipAction()  # nothing selected: esc goes on to clear the filter
        self.model.clear_selection()
        self.active_view.refresh()
        self._show_note()

    @on(FleetView.Activated)
    def _activated(self, _event: FleetView.Activated) -> None:
        self.action_drill_down()

    def action_drill_down(self) -> None:
        cursor = self.cursor_id
        if cursor is not None:
            self.app.push_screen(MinerDetailScreen(cursor, self))

    # --- actions ------------------------------------------------------------------------------

    def action_restart(self) -> None:
        self.request_command("restart", self.model.targets(self.cursor_id))

    def action_switch_pool(self) -> None:
        self.request_command("switchpool", self.model.targets(self.cursor_id))

    def action_sleep(self) -> None:
        self.request_command("sleep", self.model.targets(self.cursor_id))

    def action_wake(self) -> None:
        self.request_command("wake", self.model.targets(self.cursor_id))

    def action_acknowledge(self) -> None:
        self.request_acknowledge(self.model.targets(self.cursor_id))

    def _refuse_if_read_only(self) -> bool:
        if self.hi_app.read_only or self.hi_app.client is None:
            self.notify("This key is read-only: no actions.", severity="error")
            return True
        return False

    def request_command(
        self,
        command: str,
        ids: list[str],
        params: dict[str, Any] | None = None,
        *,
        checked: bool = False,
    ) -> None:
        """Ask (pool, then confirmation with Cancel focused), then send; results per miner."""
        if self._refuse_if_read_only():
            return
        if not ids:
            self.notify("No miner selected.", severity="warning")
            return
        if not checked:
            self.run_worker(self._check_capabilities(command, ids, params), group="fleet-check")
            return
        if command == "switchpool" and params is None:
            self.run_worker(self._pick_pool(ids), group="fleet-pool", exclusive=True)
            return
        verb = COMMANDS[command]
        who = ids[0] if len(ids) == 1 else f"{len(ids)} miners"
        detail = f" to pool {params['pool']}" if params and "pool" in params else ""
        if params and params.get("url"):
            detail += f" ({params['url']}{' as ' + params['user'] if params.get('user') else ''})"
        question = f"{verb} {who}{detail}?"
        if len(ids) > 1:
            question += "\n" + ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")
        key = self.hi_app.store.key
        if key is not None and key.mode == "semi_auto":
            question += (
                "\n\nYour key is semi-automatic: this waits for a second operator's approval."
            )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(self._send(command, ids, params or {}), group="fleet-command")

        self.app.push_screen(ConfirmScreen(question, verb.split()[0]), answered)

    async def _check_capabilities(
        self, command: str, ids: list[str], params: dict[str, Any] | None
    ) -> None:
        """Offer the command only to miners whose firmware supports it (as the backend says)."""
        client = self.hi_app.client
        assert client is not None
        if len(ids) > MAX_CAPABILITY_CHECKS:
            self.request_command(command, ids, params, checked=True)
            return
        gate = asyncio.Semaphore(MAX_CONCURRENT_ACKS)

        async def why_not(miner_id: str) -> str | None:
            async with gate:
                try:
                    return unsupported(as_dict(await client.miner(miner_id)), command)
                except (ApiError, ConnectionLost):
                    return None  # unknown: let the backend answer for this miner

        reasons = await asyncio.gather(*(why_not(miner_id) for miner_id in ids))
        refused = {miner_id: why for miner_id, why in zip(ids, reasons, strict=True) if why}
        able = [miner_id for miner_id in ids if miner_id not in refused]
        verb = COMMANDS[command]
        if refused:
            first, reason = next(iter(refused.items()))
            who = first if len(refused) == 1 else f"{len(refused)} miners ({first}: …)"
            self.notify(
                f"{verb} is not available on {who}: {reason}",
                severity="error" if not able else "warning",
            )
        if able:
            self.request_command(command, able, params, checked=True)

    async def _pick_pool(self, ids: list[str]) -> None:
        client = self.hi_app.client
        assert client is not None
        try:
            miner = await client.miner(ids[0])
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Cannot read {ids[0]}'s pools: {exc}", severity="error")
            return
        pools = miner.pools or []
        if not pools:
            self.notify(f"{ids[0]} reports no pools.", severity="warning")
            return
        title = f"Switch {'the selected miners' if len(ids) > 1 else ids[0]} to which pool?"
        if len(ids) > 1:
            title += f"\n(pools as {ids[0]} lists them; a miner without that pool URL refuses)"

        def chosen(index: int | None) -> None:
            if index is not None:  # the pool itself, not just its place: places move
                pool = pools[index]
                params: dict[str, Any] = {"pool": index, "url": pool.url}
                if pool.user and len(ids) == 1:  # worker names differ from miner to miner
                    params["user"] = pool.user
                self.request_command("switchpool", ids, params, checked=True)

        self.app.push_screen(PoolPickerScreen(title, pools), chosen)

    async def _send(self, command: str, ids: list[str], params: dict[str, Any]) -> None:
        client = self.hi_app.client
        assert client is not None
        verb = COMMANDS[command]
        try:
            if len(ids) == 1:
                results = command_results(await client.miner_command(ids[0], command, params))
            else:
                results = command_results(await client.bulk_command(ids, command, params))
        except (ApiError, ConnectionLost) as exc:
            # An error answer means nothing ran; no answer means it may have run: say so,
            # rather than "failed", so nobody sends a restart twice.
            lost = isinstance(exc, ConnectionLost)
            result = f"{exc}; it may have run: the command log shows" if lost else str(exc)
            self.notify(f"{verb}: {result}", severity="warning" if lost else "error")
            self._log(
                {
                    "miner_id": ", ".join(ids),
                    "command": command,
                    "state": "unknown" if lost else "failed",
                    "result": result,
                }
            )
            if lost:
                self.hi_app.fetch_active()
            return
        for result in results:
            self._log({"command": command, **result})
        text, severity = describe_results(f"{verb} {len(ids)}", results)
        self.notify(text, severity=severity)  # type: ignore[arg-type]
        self.hi_app.fetch_active()

    def request_acknowledge(self, ids: list[str]) -> None:
        if self._refuse_if_read_only():
            return
        if not ids:
            self.notify("No miner selected.", severity="warning")
            return
        self.run_worker(self._acknowledge(ids), group="fleet-ack", exclusive=True)

    async def _acknowledge(self, ids: list[str]) -> None:
        client = self.hi_app.client
        assert client is not None
        wanted = set(ids)
        try:
            page = await client.alerts(state="raised", miner_id=ids[0] if len(ids) == 1 else None)
            alerts = [a for a in page_items(page)[0] if a.get("miner_id") in wanted]
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Cannot read alerts: {exc}", severity="error")
            return
        if not alerts:
            self.notify("No raised alerts on the chosen miners.")
            return
        gate = asyncio.Semaphore(MAX_CONCURRENT_ACKS)

        async def ack(alert: dict[str, Any]) -> str | None:
            async with gate:
                try:
                    await client.acknowledge_alert(alert["id"])
                except (ApiError, ConnectionLost) as exc:
                    return f"{alert.get('miner_id')}: {exc}"
                return None

        errors = [e for e in await asyncio.gather(*(ack(a) for a in alerts)) if e]
        done = len(alerts) - len(errors)
        if errors:
            self.notify(f"Acknowledged {done} of {len(alerts)}; {errors[0]}", severity="warning")
        else:
            self.notify(f"Acknowledged {done} alert{'s' if done != 1 else ''}.")
        self.hi_app.fetch_active()

    # --- command log --------------------------------------------------------------------------

    def _log(self, entry: dict[str, Any]) -> None:
        entry.setdefault("ts", time.time())
        self.command_log.appendleft(entry)
        if self.log_visible:
            self._show_log(self.hi_app.store)

    def action_toggle_log(self) -> None:
        self.log_visible = not self.log_visible
        self.query_one("#fleet-log").display = self.log_visible
        if self.log_visible:
            self._show_log(self.hi_app.store)
            self.hi_app.fetch_active()

    def _show_log(self, store: Store) -> None:
        entries = merged_log(self.command_log, store.snapshots.get(SNAP_COMMANDS) or [])
        text = Text("Command log (UTC; L hides)\n", style="bold")
        if not entries:
            text.append("no commands yet", style="dim")
        for entry in entries[:8]:
            text.append_text(log_line(entry))
            text.append("\n")
        self.query_one("#fleet-log", Static).update(text)

    def miners_commands(self, miner_id: str, store: Store) -> list[dict[str, Any]]:
        """This session's and the backend's commands for one miner (for the detail screen)."""
        entries = merged_log(self.command_log, store.snapshots.get(SNAP_COMMANDS) or [])
        return [e for e in entries if e.get("miner_id") == miner_id]
