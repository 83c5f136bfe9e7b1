"""The Notary & Wallets screen: notarizations with their step states, verify, and the login log.

Data: REST snapshots (how this backend notarizes, the latest notarizations, the wallet login log)
merged with the `notarizations` and `wallet` streams, newest state per id winning. The login log
needs an admin key; without one the tab says so instead of showing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Static

from hashinsight_contract.notary import NotaryInfo
from hashinsight_contract.wallet import PRIVATE_LOGIN_FIELDS
from hashinsight_tui.client import (
    ApiError,
    AuthError,
    ConnectionLost,
    HashInsightClient,
    Notarization,
    Verification,
    WalletLogin,
)
from hashinsight_tui.format import DASH, DAY_MINUTES, short, when
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.store import Store, merge_by_id
from hashinsight_tui.widgets.line_table import LineTable, TableColumn
from hashinsight_tui.widgets.notary_checks import check_table, verdict
from hashinsight_tui.widgets.repaint import show

SNAP_INFO = "notary.info"
SNAP_LIST = "notary.list"
SNAP_LOGINS = "notary.logins"
SNAP_ERRORS = "notary.errors"
# console column -> pipeline step whose state it shows
STATE_COLUMNS = (
    ("Signed", "sign"),
    ("Pinned", "pin"),
    ("Anchored", "anchor"),
    ("Confirmed", "confirm"),
)
STATE_MARKS = {
    "done": ("✓", "green"),
    "running": ("…", "yellow"),
    "retrying": ("↻", "yellow"),
    "failed": ("✗", "bold red"),
    "pending": ("·", "dim"),
}
STATUS_STYLES = {"completed": "green", "running": "yellow", "failed": "bold red"}
OUTCOME_STYLES = {"ok": "green", "rejected": "red", "rate_limited": "yellow"}
OUTCOMES = ("", "ok", "rejected", "rate_limited")
TRIGGERS = {"manual": "manual", "schedule": "daily"}
NOTARY_COLUMNS = (
    TableColumn("id", "ID"),
    TableColumn("created", "Created UTC"),
    TableColumn("trigger", "By"),
    TableColumn("status", "Status"),
    *(TableColumn(step, label) for label, step in STATE_COLUMNS),
    TableColumn("block", "Block"),
)
LOGIN_COLUMNS = (
    TableColumn("at", "Time (UTC)"),
    TableColumn("outcome", "Outcome"),
    TableColumn("address", "Address"),
    TableColumn("ip", "IP"),
    TableColumn("location", "Location"),
    TableColumn("reason", "Reason"),
)


def notarizations(store: Store) -> list[Notarization]:
    rest = store.snapshots.get(SNAP_LIST) or ()
    streamed = [data for data in store.latest.get("notarizations", {}).values() if "steps" in data]
    return merge_by_id(rest, streamed, Notarization, lambda row: row.updated_at)


def logins(store: Store) -> list[WalletLogin]:
    rest: list[WalletLogin] = store.snapshots.get(SNAP_LOGINS) or []
    by_id = {row.id: row for row in rest}
    streamed = [with_private(data, by_id) for data in store.latest.get("wallet", {}).values()]
    return merge_by_id(rest, streamed, WalletLogin)  # no stamp: the later arrival wins


def with_private(data: Mapping[str, Any], known: Mapping[int, WalletLogin]) -> dict[str, Any]:
    """A streamed login completed with what the stream leaves out: the REST copy's IP and the
    like when this console has one, else unknown; the login model then checks the whole."""
    row = known.get(data["id"]) if isinstance(data.get("id"), int) else None
    return {**{name: getattr(row, name, None) for name in PRIVATE_LOGIN_FIELDS}, **data}


def state_cell(state: str, width: int) -> Text:
    """A step's mark centred under its label (`width`, the label's: the column's width)."""
    mark, style = STATE_MARKS.get(state, ("?", "dim"))
    return Text(mark.center(width), style=style)


def location(login: WalletLogin) -> str:
    if login.geo_status == "ok":
        return ", ".join(p for p in (login.city, login.country_code) if p) or DASH
    if login.geo_status == "pending":
        return "locating…"
    return f"{DASH} ({login.geo_status})"


class VerificationScreen(ModalScreen[None]):
    """Each check of one verification, PASS/FAIL/N/A with what was compared."""

    DEFAULT_CSS = """
    VerificationScreen { align: center middle; }
    VerificationScreen > Vertical {
        width: 110; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    VerificationScreen #verify-title { text-style: bold; padding-bottom: 1; }
    VerificationScreen #verify-hint { color: $text-muted; padding-top: 1; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("enter", "dismiss", "Close", show=False),
        Binding("v", "dismiss", "Close", show=False),
    ]

    def __init__(self, result: Verification) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        result = self.result
        title = (
            Text(f"Notarization {result.id}: VERIFIED", style="bold green")
            if result.ok
            else Text(
                f"Notarization {result.id}: NOT VERIFIED — failed at {result.failed_step}",
                style="bold red",
            )
        )
        with Vertical():
            yield Static(title, id="verify-title")
            yield Static(check_table(result), id="verify-checks")
            yield Static("Esc to close", id="verify-hint")


class NotaryScreen(BaseScreen):
    SCREEN_TITLE = "Notary & Wallets"
    CHANNELS: ClassVar[tuple[str, ...]] = ("notarizations", "wallet")
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "outcome": tuple(o for o in OUTCOMES if o),
        "tab": ("reports", "logins"),
        "q": (),
    }
    FILTER_ARGUMENTS: ClassVar[tuple[str, ...]] = ("q", "outcome")
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"notarize", "retry"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("v", "verify", "Verify", id="notary.verify"),
        Binding("n", "notarize", "Notarize now", id="notary.notarize"),
        Binding("r", "retry", "Retry", show=False, id="notary.retry"),
        Binding("w", "switch_tab", "Logins/Reports", id="notary.tab"),
        Binding("o", "cycle_outcome", "Outcome", show=False, id="notary.outcome"),
    ]
    DEFAULT_CSS = """
    NotaryScreen #notary-tabs { height: 1fr; }
    NotaryScreen #notary-info, NotaryScreen #logins-info {
        height: 1; padding: 0 1; color: $text-muted;
    }
    NotaryScreen #notary-table, NotaryScreen #logins-table { height: 1fr; }
    NotaryScreen #login-detail {
        height: auto; max-height: 3; padding: 0 1; border-top: hkey $panel;
    }
    NotaryScreen #notary-detail {
        height: auto; max-height: 8; padding: 0 1; border-top: hkey $panel;
    }
    NotaryScreen #notary-tabline { height: 1; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.outcome = ""
        self.verifications: dict[int, Verification] = {}
        self._rows: dict[str, Notarization] = {}  # the rows of each table, by row key
        self._logins: dict[str, WalletLogin] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(self._tabs_line(), id="notary-tabline")
        with ContentSwitcher(id="notary-tabs", initial="tab-reports"):
            with Vertical(id="tab-reports"):
                yield Static("", id="notary-info")
                yield LineTable(NOTARY_COLUMNS, sortable=False, id="notary-table")
                yield Static("", id="notary-detail")
            with Vertical(id="tab-logins"):
                yield Static("", id="logins-info")
                yield LineTable(LOGIN_COLUMNS, sortable=False, id="logins-table")
                yield Static("", id="login-detail")

    # --- data ------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        try:
            values[SNAP_INFO] = await client.notary_info()
            values[SNAP_LIST] = (await client.notarizations(limit=100)).items
        except ApiError as exc:
            errors["reports"] = exc.message
        try:
            values[SNAP_LOGINS] = (await client.wallet_logins(limit=200)).items
        except AuthError as exc:
            errors["logins"] = f"the login log needs an admin key ({exc.message})"
        except ApiError as exc:
            errors["logins"] = exc.message
        values[SNAP_ERRORS] = errors
        return values

    def refresh_view(self, store: Store) -> None:
        errors: Mapping[str, str] = store.snapshots.get(SNAP_ERRORS) or {}
        self._refresh_reports(store, errors.get("reports"))
        self._refresh_logins(store, errors.get("logins"))

    def _refresh_reports(self, store: Store, error: str | None) -> None:
        info: NotaryInfo | None = store.snapshots.get(SNAP_INFO)
        line = self.query_one("#notary-info", Static)
        if info is None:
            waiting = error or "waiting for the backend…"
            show(line, Text(f"{DASH} notary: {waiting}", style="yellow"))
        else:
            show(
                line,
                f"signer {short(info.signer, 6, 4)} · {info.chain or DASH} chain · "
                f"pins: {info.pin_provider} · daily {info.schedule_utc} UTC · "
                f"{info.confirmations} conf.",
            )
        rows = [
            item
            for item in notarizations(store)
            if not self.filter_text or self.filter_text.lower() in self._haystack(item)
        ]
        self._rows = {str(item.id): item for item in rows}
        self.query_one("#notary-table", LineTable).set_rows(
            [
                (
                    str(item.id),
                    (
                        str(item.id),
                        when(item.created_at, DAY_MINUTES),
                        TRIGGERS.get(item.trigger, item.trigger),
                        Text(item.status, style=STATUS_STYLES.get(item.status, "")),
                        *(
                            state_cell(item.step_state(step), len(label))
                            for label, step in STATE_COLUMNS
                        ),
                        str(item.block_number) if item.block_number is not None else DASH,
                    ),
                )
                for item in rows
            ]
        )
        self._show_detail()

    @staticmethod
    def _haystack(item: Notarization) -> str:
        return " ".join(
            str(v).lower()
            for v in (item.id, item.status, item.trigger, item.hash, item.cid, item.tx_hash)
            if v is not None
        )

    def selected(self) -> Notarization | None:
        key = self.query_one("#notary-table", LineTable).cursor_key
        return self._rows.get(key) if key is not None else None

    def _show_detail(self) -> None:
        detail = self.query_one("#notary-detail", Static)
        item = self.selected()
        if item is None:
            reason = "none match the filter" if self.filter_text else "none yet"
            hint = "" if self.hi_app.read_only else " — press n to notarize now"
            show(detail, Text(f"No notarizations: {reason}{hint}", style="dim"))
            return
        text = Text()
        text.append(f"#{item.id} {item.status}", style=STATUS_STYLES.get(item.status, "bold"))
        period = f"{when(item.period_start, DAY_MINUTES)} → {when(item.period_end, DAY_MINUTES)}"
        text.append(f"  period {period} UTC\n")
        text.append(f"hash   {item.hash or DASH}\n")
        pin = f" ({item.pin_provider})" if item.pin_provider else ""
        text.append(f"CID    {item.cid or DASH}{pin}\n")
        text.append(f"tx     {item.tx_hash or DASH}\n")
        block = str(item.block_number) if item.block_number is not None else DASH
        text.append(f"block  {block} · chain {item.chain_id or DASH} ({item.chain or DASH})")
        if item.error:
            text.append(f"\nerror  {item.error}", style="red")
        result = self.verifications.get(item.id)
        if result is not None:
            text.append("\nverify ")
            for check in result.checks:
                mark, style = verdict(check.ok)
                text.append(f"{check.step} {mark.strip()}  ", style=style)
        show(detail, text)

    def _refresh_logins(self, store: Store, error: str | None) -> None:
        info = self.query_one("#logins-info", Static)
        table = self.query_one("#logins-table", LineTable)
        if SNAP_LOGINS not in store.snapshots:
            table.set_rows([])
            self._logins = {}
            show(info, Text(f"{DASH} {error or 'waiting for the backend…'}", style="yellow"))
            self._show_login()  # nothing: the line above says why there is no log
            return
        everything = logins(store)
        needle = self.filter_text.lower()
        rows = [
            login
            for login in everything
            if (not self.outcome or login.outcome == self.outcome)
            and (not needle or needle in self._login_haystack(login))
        ]
        self._logins = {str(login.id): login for login in rows}
        table.set_rows(
            [
                (
                    str(login.id),
                    (
                        when(login.at, DAY_MINUTES),
                        Text(login.outcome, style=OUTCOME_STYLES.get(login.outcome, "")),
                        short(login.address, 8, 4),
                        login.ip or DASH,
                        location(login),
                        Text(login.reason or "", style="dim", overflow="ellipsis"),
                    ),
                )
                for login in rows
            ]
        )
        self._show_login()
        shown = f"{len(rows)} of {len(everything)}" if len(rows) != len(everything) else len(rows)
        filters = [f"outcome {self.outcome}"] if self.outcome else []
        if self.filter_text:
            filters.append(f"'{self.filter_text}'")
        suffix = f" · filter {', '.join(filters)}" if filters else ""
        show(info, f"{shown} login attempts (newest first) · o: outcome · /: search{suffix}")

    def _show_login(self) -> None:
        detail = self.query_one("#login-detail", Static)
        key = self.query_one("#logins-table", LineTable).cursor_key
        login = self._logins.get(key) if key is not None else None
        if login is None and SNAP_LOGINS not in self.hi_app.store.snapshots:
            show(detail, "")
            return
        if login is None:
            show(
                detail,
                Text(
                    "No login attempts match."
                    if self.filter_text or self.outcome
                    else "No wallet login attempts yet.",
                    style="dim",
                ),
            )
            return
        text = Text(f"{login.address or DASH}  ", style="bold")
        text.append(login.outcome, style=OUTCOME_STYLES.get(login.outcome, ""))
        if login.reason:
            text.append(f" — {login.reason}")
        place = location(login) if login.geo_status == "ok" else login.geo_detail or DASH
        text.append(f"\n{login.ip or DASH} · {place}", style="dim")
        if login.isp:
            text.append(f" · {login.isp}", style="dim")
        show(detail, text)

    @on(LineTable.CursorMoved, "#logins-table")
    def _login_highlighted(self, _event: LineTable.CursorMoved) -> None:
        self._show_login()

    @staticmethod
    def _login_haystack(login: WalletLogin) -> str:
        parts = (login.address, login.ip, login.city, login.country, login.reason, login.outcome)
        return " ".join(p.lower() for p in parts if p)

    # --- filters and tabs -----------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.refresh_view(self.hi_app.store)

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        super().apply_arguments(arguments)
        if arguments.get("outcome", "") in OUTCOMES:  # none given: no outcome filter
            self.outcome = arguments.get("outcome", "")
            self.refresh_view(self.hi_app.store)
        if arguments.get("tab") in ("logins", "reports"):
            self.show_tab(f"tab-{arguments['tab']}")

    @property
    def active_tab(self) -> str:
        return self.query_one(ContentSwitcher).current or "tab-reports"

    def _tabs_line(self, active: str = "tab-reports") -> Text:
        text = Text()
        for tab_id, label in (("tab-reports", "Notarizations"), ("tab-logins", "Wallet logins")):
            text.append(f" {label} ", style="bold reverse" if tab_id == active else "dim")
            text.append(" ")
        text.append(" w switches", style="dim")
        return text

    def show_tab(self, tab_id: str) -> None:
        self.query_one(ContentSwitcher).current = tab_id
        self.query_one("#notary-tabline", Static).update(self._tabs_line(tab_id))
        table_id = "#notary-table" if tab_id == "tab-reports" else "#logins-table"
        self.query_one(table_id, LineTable).focus()

    def action_switch_tab(self) -> None:
        self.show_tab("tab-logins" if self.active_tab == "tab-reports" else "tab-reports")

    def action_cycle_outcome(self) -> None:
        self.outcome = OUTCOMES[(OUTCOMES.index(self.outcome) + 1) % len(OUTCOMES)]
        self.show_tab("tab-logins")
        self.refresh_view(self.hi_app.store)

    @on(LineTable.CursorMoved, "#notary-table")
    def _row_highlighted(self, _event: LineTable.CursorMoved) -> None:
        self._show_detail()

    @on(LineTable.RowSelected, "#notary-table")
    def _row_selected(self, _event: LineTable.RowSelected) -> None:
        self.action_verify()

    # --- actions --------------------------------------------------------------------------

    @work(exclusive=True, group="notary-verify")
    async def action_verify(self) -> None:
        item = self.selected()
        client = self.hi_app.client
        if item is None or client is None:
            self.notify("No notarization selected", severity="warning")
            return
        self.notify(f"Verifying notarization {item.id}…")
        try:
            result = await client.verify_notarization(item.id)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Verification failed to run: {exc}", severity="error")
            return
        self.verifications[item.id] = result
        self._show_detail()
        self.app.push_screen(VerificationScreen(result))

    @work(exclusive=True, group="notary-write")
    async def action_notarize(self) -> None:
        client = self.hi_app.client
        if client is None:
            return
        try:
            item = await client.request_notarization()
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Could not start a notarization: {exc}", severity="error")
            return
        self.notify(f"Notarization {item.id} started")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="notary-write")
    async def action_retry(self) -> None:
        item = self.selected()
        client = self.hi_app.client
        if item is None or client is None:
            return
        if item.status != "failed":
            self.notify(f"Notarization {item.id} is {item.status}; only failed ones are retried")
            return
        try:
            await client.retry_notarization(item.id)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Retry refused: {exc}", severity="error")
            return
        self.notify(f"Notarization {item.id}: retrying from the failed step")
        self.hi_app.fetch_active()
