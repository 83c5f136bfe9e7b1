"""The Alerts screen: the on-call view of every open fleet alert, readable in full.

A count of alerts is no use to the person on call: they need to read what is wrong, where, and
how far past its threshold, then acknowledge it or silence it for a while with a reason that
every other console sees. `AlertBoard` is the console's one copy of the open alerts (the status
bar counts from it too); it is loaded with the REST list and kept current by the `alerts`
stream and by the answers to this console's own acknowledgements, so the count follows at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from hashinsight_contract.fleet import RULES, SEVERITY_RANK, AlertRouting, AlertView
from hashinsight_tui.client import ApiError, ConnectionLost, HashInsightClient, StreamEvent
from hashinsight_tui.format import DASH, age, ago
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import BUTTON_KEYS, ButtonRowMixin, DecisionScreen
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.line_table import LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
STATES = ("new", "acknowledged", "silenced")
SORTS = ("severity", "age", "miner", "rule", "site")
SNAP_HISTORY = "alerts.history"
SNAP_ROUTING = "alerts.routing"
HISTORY_LIMIT = 200
SILENCE_CHOICES = "15m 1h 4h 12h 1d"
COLUMNS = [
    TableColumn("severity", "Sev"),
    TableColumn("miner", "Miner"),
    TableColumn("where", "Where"),
    TableColumn("rule", "Rule"),
    TableColumn("message", "Message"),
    TableColumn("reading", "Value vs limit"),
    TableColumn("state", "State"),
    TableColumn("age", "Age"),
]


# --- the model ------------------------------------------------------------------------------


def silenced(alert: AlertView, now: float | None = None) -> bool:
    until = alert.silenced_until
    return until is not None and until > (now or time.time())


def attention(alert: AlertView, now: float | None = None) -> bool:
    """Still waiting for someone: raised, not acknowledged, not silenced."""
    return alert.state == "raised" and not silenced(alert, now)


def state_word(alert: AlertView, now: float | None = None) -> str:
    if alert.state == "cleared":
        return "cleared"
    if silenced(alert, now):
        return "silenced"
    return "acknowledged" if alert.state == "acknowledged" else "new"


def merge(known: AlertView | None, update: Mapping[str, Any]) -> AlertView:
    """`update` over what we knew of the alert: events carry it without its location or
    silence, so a field an update leaves out or sends as None keeps the known value.
    Raises ValidationError when the result is not an alert."""
    if known is None:
        return AlertView.model_validate(update)
    fresh = {key: value for key, value in update.items() if value is not None}
    return AlertView.model_validate({**known.model_dump(), **fresh})


@dataclass
class AlertBoard:
    """Open alerts by id, plus alerts cleared while this console watched (newest last)."""

    open: dict[int, AlertView] = field(default_factory=dict)
    cleared: dict[int, AlertView] = field(default_factory=dict)
    loaded: bool = False
    error: str = ""
    version: int = 0  # bumped on each change: screens redraw only when it moved

    def load(self, items: list[AlertView]) -> None:
        """A fresh REST list of the open alerts replaces what the stream built up."""
        self.open = {a.id: a for a in items if a.state != "cleared"}
        for alert_id in self.open:
            self.cleared.pop(alert_id, None)
        self.loaded, self.error = True, ""
        self.version += 1

    def apply(self, alert: AlertView | Mapping[str, Any]) -> bool:
        """One alert's new state (a streamed event or the answer to our own action); an
        alert that does not fit the contract's shape is skipped (False)."""
        if isinstance(alert, AlertView):  # an answer of the API is the whole alert, as it is now
            alert_id, merged = alert.id, alert
        elif isinstance(alert, Mapping):
            try:
                alert_id = int(alert["id"])
                merged = merge(self.open.get(alert_id) or self.cleared.get(alert_id), alert)
            except (KeyError, TypeError, ValueError, OverflowError, ValidationError):
                return False
        else:
            return False
        if merged.state == "cleared":
            self.open.pop(alert_id, None)
            self.cleared[alert_id] = merged
        else:
            self.open[alert_id] = merged
        self.version += 1
        return True

    def apply_events(self, events: list[StreamEvent]) -> bool:
        before = self.version
        for event in events:
            if event.channel == "alerts" and event.event.startswith("alert."):
                if not isinstance(event.data, Mapping):
                    continue
                data = dict(event.data)
                if event.event == "alert.acknowledged" and data.get("state") == "raised":
                    data["state"] = "acknowledged"
                self.apply(data)
        return self.version != before

    def frozen(self) -> AlertBoard:
        """A copy later events do not change (what a paused console shows)."""
        return replace(self, open=dict(self.open), cleared=dict(self.cleared))

    def counts(self, now: float | None = None) -> tuple[int, int]:
        """(alerts waiting for someone, of which critical): what the status bar shows."""
        waiting = [a for a in self.open.values() if attention(a, now)]
        return len(waiting), sum(1 for a in waiting if a.severity == "critical")


def location(alert: AlertView) -> str:
    parts = [str(part) for part in (alert.site, alert.rack, alert.position) if part]
    return "/".join(parts) or DASH


def reading(alert: AlertView) -> str:
    value, threshold = alert.value, alert.threshold
    if value is None:
        return DASH
    text = f"{value:g}"
    return f"{text} vs {threshold:g}" if threshold is not None else text


def parse_filter(text: str, fields: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """`severity=critical rule=overheat text` → ({field: value}, free text)."""
    found: dict[str, str] = {}
    words = []
    for word in text.split():
        key, eq, value = word.partition("=")
        if eq and key.lower() in fields and value:
            found[key.lower()] = value.lower()
        else:
            words.append(word)
    return found, " ".join(words).lower()


def matches(alert: AlertView, fields: dict[str, str], needle: str, now: float) -> bool:
    for key, value in fields.items():
        if key == "state":
            have = state_word(alert, now)
        elif key in ("site", "miner"):
            have = str((alert.site if key == "site" else alert.miner_id) or "").lower()
            if value not in have:
                return False
            continue
        else:
            have = str(getattr(alert, key, None) or "").lower()
        if have != value:
            return False
    if needle:
        hay = " ".join(
            str(part or "")
            for part in (alert.miner_id, alert.rule, alert.message, alert.severity, alert.site)
        )
        return needle in f"{hay} {location(alert)}".lower()
    return True


def sort_key(sort: str, now: float) -> Any:
    def key(alert: AlertView) -> Any:
        newest = -(alert.raised_at or 0.0)
        sev = -SEVERITY_RANK.get(alert.severity, 0)
        # Alerts waiting for someone first, then acknowledged, then silenced ones.
        group = {"new": 0, "acknowledged": 1, "silenced": 2}.get(state_word(alert, now), 3)
        if sort == "age":
            return (newest, sev)
        if sort == "miner":
            return (alert.miner_id, sev, newest)
        if sort == "rule":
            return (alert.rule, sev, newest)
        if sort == "site":
            return (location(alert), sev, newest)
        return (group, sev, newest)

    return key


def parse_minutes(text: str) -> float | None:
    """`90`, `90m`, `4h`, `1d` → minutes; None when it is not a duration."""
    text = text.strip().lower()
    scale = {"m": 1.0, "h": 60.0, "d": 1440.0}.get(text[-1:])
    number = text[:-1] if scale is not None else text
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        return None
    return value if 0 < value <= 7 * 1440 else None


# --- the silence dialog -----------------------------------------------------------------------


class SilenceScreen(ButtonRowMixin, ModalScreen[tuple[float, str] | None]):
    """How long and why: both required, the reason audited and shown to every console."""

    DEFAULT_CSS = """
    SilenceScreen { align: center middle; }
    SilenceScreen > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    SilenceScreen #silence-question { padding-bottom: 1; }
    SilenceScreen #silence-hint { color: $text-muted; height: auto; }
    SilenceScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    SilenceScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *BUTTON_KEYS]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="silence-question")
            yield Input(value="1h", placeholder=SILENCE_CHOICES, id="silence-for", max_length=8)
            yield Input(placeholder="reason (required)", id="silence-reason", max_length=500)
            yield Static(
                f"For how long ({SILENCE_CHOICES}; at most 7d), and why: audited with your key "
                "and shown on every console. The alert stays open. enter: silence · esc: cancel",
                id="silence-hint",
            )
            with Horizontal():
                yield Button("Silence", variant="warning", id="confirm")
                yield Button("Cancel", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#silence-reason", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._decide()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        self._decide()

    def _decide(self) -> None:
        minutes = parse_minutes(self.query_one("#silence-for", Input).value)
        reason = self.query_one("#silence-reason", Input).value.strip()
        hint = self.query_one("#silence-hint", Static)
        if minutes is None:
            hint.update(Text(f"How long? e.g. {SILENCE_CHOICES}", style="bold red"))
            self.query_one("#silence-for", Input).focus()
            return
        if len(reason) < 3:
            hint.update(Text("A reason of at least 3 characters is required.", style="bold red"))
            self.query_one("#silence-reason", Input).focus()
            return
        self.dismiss((minutes, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)


# --- the screen ---------------------------------------------------------------------------------


class AlertsScreen(BaseScreen):
    SCREEN_TITLE = "Alerts"
    CHANNELS: ClassVar[tuple[str, ...]] = ("alerts",)
    FILTER_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "severity": tuple(SEVERITY_RANK),
        "rule": RULES,
        "state": STATES,
        "site": (),
        "miner": (),
    }
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        **FILTER_FIELDS,
        "sort": SORTS,
        "view": ("open", "history"),
        "q": (),
    }
    FILTER_ARGUMENTS: ClassVar[tuple[str, ...]] = ("q", *FILTER_FIELDS)
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"acknowledge", "silence"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_miner", "Miner", id="alerts.miner"),
        Binding("k", "acknowledge", "Acknowledge", id="alerts.acknowledge"),
        Binding("z", "silence", "Silence", id="alerts.silence"),
        Binding("h", "toggle_history", "History", id="alerts.history"),
        Binding("s", "sort_next", "Sort", id="alerts.sort"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="alerts.sort_reverse"),
    ]
    DEFAULT_CSS = """
    AlertsScreen #alerts-summary { height: auto; padding: 0 1; }
    AlertsScreen #alerts-table { height: 1fr; }
    AlertsScreen #alerts-detail {
        height: auto; max-height: 6; padding: 0 1; border-top: hkey $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.history = False
        self.sort = "severity"
        self.reverse = False
        self.filter_text = ""
        self.arg_filters: dict[str, str] = {}
        self._rows: dict[str, AlertView] = {}  # by row key, as shown
        self._drawn: tuple[Any, ...] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(Text("— waiting for the backend…", style="dim"), id="alerts-summary")
        yield LineTable(COLUMNS, id="alerts-table")
        yield Static("", id="alerts-detail")

    # --- data ------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        try:
            values[SNAP_ROUTING] = await client.alert_routing()
        except (ApiError, ConnectionLost):
            values[SNAP_ROUTING] = None
        if self.history:
            page = await client.alerts(state="cleared", limit=HISTORY_LIMIT)
            values[SNAP_HISTORY] = list(page.items)
        return values

    def alerts(self, store: Store) -> list[AlertView]:
        board = self.hi_app.shown_alerts
        if not self.history:
            return list(board.open.values())
        merged: dict[int, AlertView] = {a.id: a for a in store.snapshots.get(SNAP_HISTORY) or []}
        merged.update(board.cleared)
        return list(merged.values())

    def refresh_view(self, store: Store) -> None:
        now = time.time()
        board = self.hi_app.shown_alerts
        everything = self.alerts(store)
        fields = {**self.arg_filters}
        typed, needle = parse_filter(self.filter_text, tuple(self.FILTER_FIELDS))
        fields.update(typed)
        rows = [a for a in everything if matches(a, fields, needle, now)]
        rows.sort(key=sort_key(self.sort, now), reverse=self.reverse)
        summary = self._summary(store, everything, len(rows), now)
        show(self.query_one("#alerts-summary", Static), summary)
        # Redraw the table only when what it shows changed (ages move on the minute).
        drawn = (
            board.version,
            self.history,
            self.sort,
            self.reverse,
            tuple(sorted(fields.items())),
            needle,
            store.snapshot_at.get(SNAP_HISTORY),
            int(now // 30),
        )
        if drawn != self._drawn:
            self._drawn = drawn
            self._fill(rows, now)
        self._show_detail()

    def _fill(self, rows: list[AlertView], now: float) -> None:
        cells = []
        for alert in rows:
            word = state_word(alert, now)
            since = alert.cleared_at if self.history else alert.raised_at
            cells.append(
                (
                    str(alert.id),
                    (
                        Text(alert.severity, style=SEVERITY_STYLE.get(alert.severity, "")),
                        alert.miner_id,
                        location(alert),
                        alert.rule,
                        Text(alert.message, overflow="ellipsis"),
                        reading(alert),
                        Text(word, style="bold" if word == "new" else "dim"),
                        age(now - since) if since else DASH,
                    ),
                )
            )
        self._rows = {str(alert.id): alert for alert in rows}
        self.query_one("#alerts-table", LineTable).set_rows(cells)

    def _summary(self, store: Store, everything: list[AlertView], shown: int, now: float) -> Text:
        board = self.hi_app.shown_alerts
        text = Text()
        if self.history:
            text.append(f"History: {len(everything)} cleared alerts", style="bold")
            text.append(" (newest first; h: back to the open ones)", style="dim")
        elif board.error and not board.loaded:
            text.append(f"Alerts unavailable: {board.error}", style="red")
        else:
            waiting, critical = board.counts(now)
            words = [state_word(a, now) for a in everything]
            style = "bold red" if critical else "bold yellow" if waiting else "green"
            text.append(f"{len(everything)} open", style="bold")
            text.append(f" · {waiting} new ({critical} critical)", style=style)
            text.append(
                f" · {words.count('acknowledged')} acknowledged · {words.count('silenced')} "
                "silenced"
            )
        if shown != len(everything):
            text.append(f" · {shown} match the filter", style="dim")
        arrow = "↓" if self.reverse else "↑"
        text.append(f" · sorted by {self.sort} {arrow}", style="dim")
        text.append("\n" + routing_line(store.snapshots.get(SNAP_ROUTING)), style="dim")
        return text

    def selected(self) -> AlertView | None:
        key = self.query_one("#alerts-table", LineTable).cursor_key
        return self._rows.get(key) if key is not None else None

    def _show_detail(self) -> None:
        alert = self.selected()
        detail = self.query_one("#alerts-detail", Static)
        if alert is None:
            empty = "No cleared alerts yet." if self.history else "No open alerts."
            show(detail, Text(empty, style="dim"))
            return
        now = time.time()
        text = Text()
        text.append(f"#{alert.id} {alert.severity} {alert.rule} ", style="bold")
        text.append(f"on {alert.miner_id} ({location(alert)}): ")
        text.append(alert.message)
        if alert.raised_at:
            text.append(f"\nraised {ago(now - alert.raised_at)}", style="dim")
        if alert.acknowledged_by:
            text.append(f" · acknowledged by {alert.acknowledged_by}", style="dim")
            if alert.ack_note:
                text.append(f": {alert.ack_note}", style="dim")
        if alert.silenced_until is not None and silenced(alert, now):
            left = age(alert.silenced_until - now)
            text.append(
                f"\nsilenced for {left} more by {alert.silenced_by}: {alert.silence_reason}",
                style="yellow",
            )
        if alert.cleared_at:
            text.append(f" · cleared {ago(now - alert.cleared_at)}", style="dim")
        elif not self.hi_app.read_only:
            hint = "\nk acknowledge · z silence (with a reason) · enter the miner"
            text.append(hint, style="dim")
        show(detail, text)

    @on(LineTable.CursorMoved, "#alerts-table")
    def _cursor_moved(self, _event: LineTable.CursorMoved) -> None:
        self._show_detail()

    @on(LineTable.RowSelected, "#alerts-table")
    def _row_selected(self, _event: LineTable.RowSelected) -> None:
        self.action_open_miner()

    # --- filters and sorting -----------------------------------------------------------------

    def _redraw(self) -> None:
        self._drawn = None
        self.refresh_view(self.hi_app.store)

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self._redraw()

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        """`:alerts severity=critical rule=overheat state=new sort=age view=history`."""
        self.arg_filters = {
            key: value.lower()
            for key, value in arguments.items()
            if key in self.FILTER_FIELDS and value
        }
        if arguments.get("sort") in SORTS:
            self.sort = arguments["sort"]
        if arguments.get("view") in ("open", "history"):
            self._set_history(arguments["view"] == "history")
        self.filter_text = arguments.get("q", "")
        self._redraw()

    def reset_filters(self) -> None:
        self.arg_filters, self.filter_text = {}, ""
        self._redraw()

    def action_sort_next(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._redraw()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._redraw()

    def action_toggle_history(self) -> None:
        self._set_history(not self.history)
        self._redraw()

    def _set_history(self, history: bool) -> None:
        if history != self.history:
            self.history = history
            self.hi_app.fetch_active()

    # --- actions -----------------------------------------------------------------------------

    def action_open_miner(self) -> None:
        alert = self.selected()
        if alert is not None:
            self.hi_app.open_miner(alert.miner_id)

    def _may_act(self, alert: AlertView | None) -> bool:
        if alert is None:
            self.notify("No alert selected", severity="warning")
            return False
        key = self.hi_app.store.key
        if key is None or not key.has("fleet:control"):
            self.notify("Your key cannot do this: it needs fleet:control", severity="warning")
            return False
        if alert.state == "cleared":
            self.notify(f"Alert {alert.id} is cleared already", severity="warning")
            return False
        return True

    @work(exclusive=True, group="alerts-write")
    async def action_acknowledge(self) -> None:
        alert = self.selected()
        client = self.hi_app.client
        if client is None or not self._may_act(alert):
            return
        assert alert is not None
        if alert.state == "acknowledged":
            self.notify(f"Alert {alert.id} is acknowledged already")
            return
        note = await self.app.push_screen_wait(
            DecisionScreen(
                f"Acknowledge alert {alert.id}: {alert.rule} on "
                f"{alert.miner_id}?\nWhat is being done about it (optional, shown to "
                "every console)",
                "Acknowledge",
                need_reason=False,
            )
        )
        if note is None:
            return
        try:
            answer = await client.acknowledge_alert(alert.id, note or None)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Alert {alert.id} not acknowledged: {exc}", severity="error")
            return
        self.hi_app.apply_alert(answer)
        self.notify(f"Acknowledged alert {alert.id} ({alert.rule})")

    @work(exclusive=True, group="alerts-write")
    async def action_silence(self) -> None:
        alert = self.selected()
        client = self.hi_app.client
        if client is None or not self._may_act(alert):
            return
        assert alert is not None
        answer = await self.app.push_screen_wait(
            SilenceScreen(
                f"Silence alert {alert.id}: {alert.rule} on {alert.miner_id}?\n{alert.message}"
            )
        )
        if answer is None:
            return
        minutes, reason = answer
        try:
            result = await client.silence_alert(alert.id, minutes, reason)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Alert {alert.id} not silenced: {exc}", severity="error")
            return
        self.hi_app.apply_alert(result)
        self.notify(f"Silenced alert {alert.id} for {age(minutes * 60)}")


def routing_line(routing: AlertRouting | None) -> str:
    """Where alerts go besides the consoles (configured in the settings and on webhooks)."""
    if routing is None:
        return "Alerts go to: every console (email and webhook routing not known yet)"
    parts = ["every console"]
    if routing.email_enabled:
        parts.append(
            f"email to {routing.email_recipients} recipient(s) "
            f"({routing.email_min_severity} and above)"
        )
    else:
        parts.append("no email (fleet_alert_email_to not set)")
    hooks = routing.webhooks
    parts.append(f"{hooks} partner webhook(s)" if hooks else "no partner webhooks")
    return "Alerts go to: " + " · ".join(parts)
