"""The Issuer screen: the Bitmart → ndau issuer's status, its issues, and approve / reject.

Data: REST snapshots (status, the latest issues, a 24-hour reconciliation) merged with the
`issues` stream, newest state per issue winning. Deciding needs a key with the `issuer:approve`
scope; every decision asks for confirmation (and, for a rejection, a reason) and is audited by
the backend with who, when and why. Anything the backend did not say is "—" with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from hashinsight_contract.events import IssueAlert
from hashinsight_contract.issuer import Amount, SignerStatusOut
from hashinsight_tui.client import (
    ApiError,
    ConnectionLost,
    HashInsightClient,
    IssueDetailOut,
    IssueOut,
    IssuerStatus,
    Reconciliation,
)
from hashinsight_tui.format import DASH, DAY_SECONDS, TIME_SECONDS, ndau, short, since, when
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import DecisionScreen
from hashinsight_tui.store import Store, merge_by_id
from hashinsight_tui.widgets.line_table import LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show

SNAP_STATUS = "issuer.status"
SNAP_ISSUES = "issuer.issues"
SNAP_RECON = "issuer.recon"
SNAP_ERRORS = "issuer.errors"
APPROVE_SCOPE = "issuer:approve"
STATE_STYLES = {
    "detected": "cyan",
    "awaiting_approval": "bold yellow",
    "approved": "cyan",
    "signing": "yellow",
    "signed": "yellow",
    "submitted": "yellow",
    "confirmed": "green",
    "rejected": "dim",
    "failed": "bold red",
}
IN_FLIGHT = ("approved", "signing", "signed", "submitted")
# `f` cycles these views of the list.
VIEWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("all", ()),
    ("awaiting", ("awaiting_approval",)),
    ("in flight", ("detected", *IN_FLIGHT)),
    ("failed", ("failed",)),
    ("confirmed", ("confirmed",)),
    ("rejected", ("rejected",)),
)
ISSUE_COLUMNS = (
    TableColumn("id", "#"),
    TableColumn("state", "State"),
    TableColumn("ndau", "ndau", right=True),
    TableColumn("trades", "Trades"),
    TableColumn("seq", "Seq"),
    TableColumn("created", "Created (UTC)"),
    TableColumn("note", "Note", flex=True),  # the last error or decision takes what is left
)
TRADE_COLUMNS = (
    TableColumn("time", "Time (UTC)"),
    TableColumn("trade", "Trade id"),
    TableColumn("size", "Size (ndau)", right=True),
    TableColumn("price", "Price"),
    TableColumn("napu", "napu", right=True),
)


def amount(value: Amount | None) -> str:
    return ndau(value.ndau) if value else DASH


def mark(ok: bool | None) -> Text:
    if ok is None:
        return Text("?", style="dim")
    return Text("✓", style="bold green") if ok else Text("✗", style="bold red")


class IssueDetailScreen(ModalScreen[None]):
    """One issue: its Bitmart trades (the drill-down) and its transaction."""

    DEFAULT_CSS = """
    IssueDetailScreen { align: center middle; }
    IssueDetailScreen > Vertical {
        width: 110; max-width: 100%; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    IssueDetailScreen #issue-head { height: auto; padding-bottom: 1; }
    IssueDetailScreen #issue-trades { height: 1fr; }
    IssueDetailScreen #issue-hint { color: $text-muted; height: 1; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("enter", "dismiss", "Close", show=False),
    ]

    def __init__(self, detail: IssueDetailOut) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        issue = self.detail
        head = Text()
        head.append(f"Issue #{issue.id} ", style="bold")
        head.append(issue.state, style=STATE_STYLES.get(issue.state, ""))
        head.append(f"  {ndau(issue.qty_ndau)} ndau = {issue.qty_napu} napu\n")
        head.append(
            f"window {when(issue.window_start, DAY_SECONDS)} → "
            f"{when(issue.window_end, DAY_SECONDS)} UTC · "
            f"{issue.trade_count} sell trades of {issue.symbol}\n"
        )
        head.append(
            f"tx {issue.tx_hash or DASH} · sequence {issue.sequence or DASH} · "
            f"block {issue.block_height or DASH}"
        )
        signatures = (self.detail.signed_tx or {}).get("signatures") or []
        head.append(f" · {len(signatures)} signature(s)")
        if issue.decided_by:
            head.append(
                f"\ndecided by {issue.decided_by} at {when(issue.decided_at, DAY_SECONDS)} UTC: "
                f"{issue.decision_reason or DASH}"
            )
        if issue.last_error:
            head.append(f"\nlast error: {issue.last_error}", style="red")
        with Vertical():
            yield Static(head, id="issue-head")
            yield LineTable(TRADE_COLUMNS, sortable=False, id="issue-trades")
            yield Static("Esc to close", id="issue-hint")

    def on_mount(self) -> None:
        table = self.query_one("#issue-trades", LineTable)
        table.set_rows(
            [
                (
                    trade.trade_id,
                    (
                        when(trade.created_at, DAY_SECONDS),
                        trade.trade_id,
                        trade.size,
                        trade.price,
                        trade.qty_napu,
                    ),
                )
                for trade in self.detail.trades
            ]
        )
        table.focus()

    @on(LineTable.RowSelected, "#issue-trades")
    def _close(self, _event: LineTable.RowSelected) -> None:
        self.dismiss()  # enter closes, as the footer says, with the cursor in the trades


class IssuerScreen(BaseScreen):
    SCREEN_TITLE = "Issuer"
    CHANNELS: ClassVar[tuple[str, ...]] = ("issues",)
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "view": tuple(label for label, _ in VIEWS if " " not in label),
        "state": tuple(dict.fromkeys(state for _, states in VIEWS for state in states)),
        "q": (),
    }
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"approve", "reject", "retry", "start"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("a", "approve", "Approve", id="issuer.approve"),
        Binding("x", "reject", "Reject", id="issuer.reject"),
        Binding("enter", "details", "Trades", id="issuer.details"),
        Binding("f", "cycle_view", "View", id="issuer.view"),
        Binding("r", "retry", "Retry", show=False, id="issuer.retry"),
        Binding("s", "start", "Start", show=False, id="issuer.start"),
        Binding("c", "reconcile", "Check Bitmart", show=False, id="issuer.reconcile"),
    ]
    DEFAULT_CSS = """
    IssuerScreen #issuer-status { height: auto; max-height: 7; padding: 0 1; }
    IssuerScreen #issuer-table { height: 1fr; }
    IssuerScreen #issuer-detail {
        height: auto; max-height: 4; padding: 0 1; border-top: hkey $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.view = 0
        self._rows: dict[str, IssueOut] = {}  # the issues in the table, by row key
        self._empty = _empty_note(0, "", None)  # what the detail says when no row is selected

    def compose_body(self) -> ComposeResult:
        yield Static(Text(f"{DASH} waiting for the backend…", style="dim"), id="issuer-status")
        yield LineTable(ISSUE_COLUMNS, sortable=False, id="issuer-table")
        yield Static("", id="issuer-detail")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.WRITE_ACTIONS:
            key = self.hi_app.store.key
            if self.hi_app.read_only or key is None or not key.has(APPROVE_SCOPE):
                return False
        return super().check_action(action, parameters)

    # --- data ------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        try:
            values[SNAP_STATUS] = await client.issuer_status()
        except (ApiError, ConnectionLost) as exc:
            errors["status"] = str(exc)
        try:
            page = await client.issuer_issues(limit=200)
            values[SNAP_ISSUES] = page.issues
        except (ApiError, ConnectionLost) as exc:
            errors["issues"] = str(exc)
        try:
            values[SNAP_RECON] = await client.issuer_reconciliation()
        except (ApiError, ConnectionLost) as exc:
            errors["recon"] = str(exc)
        values[SNAP_ERRORS] = errors
        return values

    def issues(self, store: Store) -> list[IssueOut]:
        rest: list[IssueOut] = store.snapshots.get(SNAP_ISSUES) or []
        streamed = [data for data in store.latest.get("issues", {}).values() if "state" in data]
        return merge_by_id(rest, streamed, IssueOut, lambda issue: issue.updated_at)

    def refresh_view(self, store: Store) -> None:
        if not self._view_ready:
            return  # not mounted yet: the first render follows on_mount
        errors: Mapping[str, str] = store.snapshots.get(SNAP_ERRORS) or {}
        show(self.query_one("#issuer-status", Static), self._status_text(store, errors))
        self._refresh_table(store, errors.get("issues"))

    def _status_text(self, store: Store, errors: Mapping[str, str]) -> Text:
        status: IssuerStatus | None = store.snapshots.get(SNAP_STATUS)
        text = Text()
        if status is None:
            why = errors.get("status") or "waiting for the backend…"
            text.append(f"{DASH} issuer status unavailable: {why}", style="yellow")
            return text
        if not status.enabled:
            text.append("Issuer disabled on this backend (HASHINSIGHT_ISSUER_ENABLED=false)")
            return text
        # 1: mode and lease
        text.append(f"Mode {status.mode} · {status.symbol} · lease: ")
        lease = status.lease
        if lease.held_by_me:
            text.append(f"this backend (token {lease.token})", style="green")
        elif lease.holder:
            until = when(lease.expires_at, DAY_SECONDS) + " UTC"
            text.append(f"{short(lease.holder, 24)} until {until}", style="yellow")
        else:
            text.append(f"{DASH} nobody holds it", style="yellow")
        # 2: Bitmart and the cursor
        bitmart = status.bitmart
        text.append("\nBitmart ")
        if bitmart.last_error:
            text.append_text(mark(False))
            text.append(f" {bitmart.last_error}", style="red")
        elif bitmart.last_poll_ok_at:
            text.append_text(mark(True))
            # by the console's clock: the age moves on once a second, not with each event
            text.append(f" polled {since(bitmart.last_poll_ok_at, self.hi_app.clock_now)}")
        else:
            text.append_text(mark(None))
            text.append(" not polled yet")
        if status.needs_start:
            text.append(
                " · no starting point yet (press s, or set ISSUER_START_AT)", style="bold yellow"
            )
        elif status.cursor:
            text.append(f" · cursor {when(status.cursor.cursor_at, DAY_SECONDS)} UTC")
        text.append(f" · key {bitmart.key_file or DASH}", style="dim")
        # 3: signer and node
        signer = self._signer(store, status)
        text.append("\nSigner ")
        if signer.connected and signer.sessions:
            text.append_text(mark(True))
            names = ", ".join(session.name for session in signer.sessions)
            text.append(f" {names}")
        else:
            text.append_text(mark(False))
            text.append(" none connected", style="red")
            if signer.last_rejection:
                text.append(f" (last refused: {signer.last_rejection})", style="dim")
        node = status.node
        text.append(" · Node ")
        text.append_text(mark({"ok": True, "down": False, "degraded": False}.get(node.status)))
        sequence = node.rfe_sequence
        text.append(f" RFE seq {sequence if sequence is not None else DASH}")
        text.append(f" · issuable {amount(node.issuable)}")
        # 4: totals
        totals = status.totals
        text.append(
            f"\nSold {amount(totals.recorded_sales)} · issued "
            f"{amount(totals.issued)} · pending {amount(totals.pending)}"
        )
        if totals.rejected.napu != "0":
            text.append(f" · rejected {amount(totals.rejected)}")
        text.append(" ndau")
        if status.awaiting_approval:
            text.append(f" · {status.awaiting_approval} awaiting", style="bold yellow")
            if status.overdue_approvals:
                text.append(f" ({status.overdue_approvals} overdue)", style="bold red")
        # 5: reconciliation over the last 24 hours
        recon: Reconciliation | None = store.snapshots.get(SNAP_RECON)
        text.append("\n24h: ")
        if recon is None:
            why = errors.get("recon", "…")
            text.append(f"{DASH} reconciliation unavailable: {why}", style="dim")
        else:
            text.append(
                f"sold {amount(recon.recorded_sales)} vs issued {amount(recon.issued)} "
                f"(Δ {amount(recon.difference)})"
            )
            if _lagging(recon):
                scanned = when(recon.scanned_until, DAY_SECONDS) + " UTC"
                text.append(f" · Bitmart scanned to {scanned}", style="yellow")
        for line in [*status.problems, status.blocked, status.pipeline_error]:
            if line:
                text.append(f"\n{line}", style="bold red")
        alert = self._latest_alert(store)
        if alert:
            text.append(f"\nALERT {alert}", style="bold red")
        return text

    @staticmethod
    def _signer(store: Store, status: IssuerStatus) -> SignerStatusOut:
        """The freshest signer view: the REST status, or a later `issuer.signer` event."""
        snapshot_at = store.snapshot_at.get(SNAP_STATUS, 0.0)
        for event in reversed(store.recent.get("issues", ())):
            if event.event == "issuer.signer":
                if event.ts <= snapshot_at:
                    return status.signer
                try:
                    return SignerStatusOut.model_validate(event.data)
                except ValidationError:
                    return status.signer  # a malformed event never hides the REST view
        return status.signer

    @staticmethod
    def _latest_alert(store: Store) -> str | None:
        for event in reversed(store.recent.get("issues", ())):
            if event.event == "issue.alert":
                try:
                    alert = IssueAlert.model_validate(event.data)
                except ValidationError:
                    continue  # a malformed alert never hides an earlier readable one
                return alert.message or alert.kind
        return None

    def _refresh_table(self, store: Store, error: str | None) -> None:
        everything = self.issues(store)
        label, states = VIEWS[self.view]
        needle = self.filter_text.lower()
        rows = [
            issue
            for issue in everything
            if (not states or issue.state in states) and (not needle or needle in _haystack(issue))
        ]
        self._rows = {str(issue.id): issue for issue in rows}
        self.query_one("#issuer-table", LineTable).set_rows(
            [
                (
                    str(issue.id),
                    (
                        str(issue.id),
                        Text(issue.state, style=STATE_STYLES.get(issue.state, "")),
                        ndau(issue.qty_ndau),
                        str(issue.trade_count),
                        str(issue.sequence) if issue.sequence is not None else DASH,
                        when(issue.created_at, DAY_SECONDS),
                        _note(issue),
                    ),
                )
                for issue in rows
            ]
        )
        self._empty = _empty_note(len(everything), label, error)
        self._show_detail()

    def selected(self) -> IssueOut | None:
        key = self.query_one("#issuer-table", LineTable).cursor_key
        return self._rows.get(key) if key is not None else None

    def _show_detail(self) -> None:
        detail = self.query_one("#issuer-detail", Static)
        issue = self.selected()
        if issue is None:
            show(detail, self._empty)
            return
        text = Text()
        text.append(f"#{issue.id} ", style="bold")
        text.append(issue.state, style=STATE_STYLES.get(issue.state, ""))
        text.append(
            f" · {ndau(issue.qty_ndau)} ndau · {issue.trade_count} trade(s) "
            f"{when(issue.first_trade_at, DAY_SECONDS)}–{when(issue.last_trade_at, TIME_SECONDS)}"
            " UTC\n"
        )
        text.append(
            f"tx {issue.tx_hash or DASH} · seq {issue.sequence or DASH} · "
            f"block {issue.block_height or DASH}"
        )
        if issue.decided_by:
            text.append(
                f"\n{issue.decided_by} {when(issue.decided_at, DAY_SECONDS)} UTC: "
                f"{issue.decision_reason or DASH}",
                style="dim",
            )
        if issue.last_error:
            text.append(f"\nerror: {issue.last_error}", style="red")
        if issue.state == "awaiting_approval" and not self.hi_app.read_only:
            text.append("\na approve · x reject · enter trades", style="bold yellow")
        show(detail, text)

    @on(LineTable.CursorMoved, "#issuer-table")
    def _highlighted(self, _event: LineTable.CursorMoved) -> None:
        self._show_detail()

    @on(LineTable.RowSelected, "#issuer-table")
    def _selected(self, _event: LineTable.RowSelected) -> None:
        self.action_details()

    # --- filters ---------------------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.refresh_view(self.hi_app.store)

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        super().apply_arguments(arguments)
        wanted = arguments.get("view") or arguments.get("state")
        for index, (label, states) in enumerate(VIEWS):
            if wanted in (label, *states):
                self.view = index
                self.refresh_view(self.hi_app.store)

    def action_cycle_view(self) -> None:
        self.view = (self.view + 1) % len(VIEWS)
        self.notify(f"Issues: {VIEWS[self.view][0]}")
        self.refresh_view(self.hi_app.store)

    # --- actions --------------------------------------------------------------------------

    @work(exclusive=True, group="issuer-detail")
    async def action_details(self) -> None:
        issue = self.selected()
        client = self.hi_app.client
        if issue is None or client is None:
            return
        try:
            detail = await client.issuer_issue(issue.id)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Could not load issue {issue.id}: {exc}", severity="error")
            return
        self.app.push_screen(IssueDetailScreen(detail))

    @work(exclusive=True, group="issuer-write")
    async def action_approve(self) -> None:
        issue = self._awaiting()
        if issue is None:
            return
        reason = await self.app.push_screen_wait(
            DecisionScreen(
                f"Approve issue #{issue.id}: issue {ndau(issue.qty_ndau)} ndau for "
                f"{issue.trade_count} Bitmart sell trade(s)?",
                "Approve",
                need_reason=False,
            )
        )
        if reason is None:
            return
        await self._decide(issue, approve=True, reason=reason)

    @work(exclusive=True, group="issuer-write")
    async def action_reject(self) -> None:
        issue = self._awaiting()
        if issue is None:
            return
        reason = await self.app.push_screen_wait(
            DecisionScreen(
                f"Reject issue #{issue.id} ({ndau(issue.qty_ndau)} ndau)? Its trades will never "
                "be issued.",
                "Reject",
                need_reason=True,
                danger=True,
            )
        )
        if reason is None:
            return
        await self._decide(issue, approve=False, reason=reason)

    def _awaiting(self) -> IssueOut | None:
        issue = self.selected()
        if issue is None:
            self.notify("No issue selected", severity="warning")
            return None
        if issue.state != "awaiting_approval":
            self.notify(f"Issue {issue.id} is {issue.state}, not awaiting approval")
            return None
        return issue

    async def _decide(self, issue: IssueOut, *, approve: bool, reason: str) -> None:
        client = self.hi_app.client
        if client is None:
            return
        try:
            if approve:
                await client.approve_issue(issue.id, reason or None)
            else:
                await client.reject_issue(issue.id, reason)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Issue {issue.id} not changed: {exc}", severity="error")
            self.hi_app.fetch_active()
            return
        self.notify(f"Issue {issue.id} {'approved' if approve else 'rejected'}")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="issuer-write")
    async def action_retry(self) -> None:
        issue = self.selected()
        client = self.hi_app.client
        if issue is None or client is None:
            return
        if issue.state != "failed":
            self.notify(f"Issue {issue.id} is {issue.state}; only failed issues are retried")
            return
        reason = await self.app.push_screen_wait(
            DecisionScreen(
                f"Retry issue #{issue.id}? It resumes with the same transaction "
                f"(sequence {issue.sequence or DASH}).",
                "Retry",
                need_reason=False,
            )
        )
        if reason is None:
            return
        try:
            await client.retry_issue(issue.id, reason or None)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Retry refused: {exc}", severity="error")
            return
        self.notify(f"Issue {issue.id}: retrying")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="issuer-write")
    async def action_start(self) -> None:
        client = self.hi_app.client
        status: IssuerStatus | None = self.hi_app.store.snapshots.get(SNAP_STATUS)
        if client is None or status is None:
            return
        if not status.needs_start:
            self.notify("The issuer already has its starting point")
            return
        reason = await self.app.push_screen_wait(
            DecisionScreen(
                "Start issuing from now? Bitmart sales before this moment are never issued.",
                "Start now",
                need_reason=False,
            )
        )
        if reason is None:
            return
        try:
            await client.start_issuer("now")
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Not started: {exc}", severity="error")
            return
        self.notify("Issuer started from now")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="issuer-recon")
    async def action_reconcile(self) -> None:
        client = self.hi_app.client
        if client is None:
            return
        self.notify("Asking Bitmart for the last 24 hours of sales…")
        try:
            recon = await client.issuer_reconciliation(live=True)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Reconciliation failed: {exc}", severity="error")
            return
        unrecorded = amount(recon.unrecorded)
        unrecorded_napu = recon.unrecorded.napu if recon.unrecorded else None
        severity = "information" if unrecorded_napu == "0" else "warning"
        self.notify(
            f"Bitmart {amount(recon.bitmart_sales)} · recorded {amount(recon.recorded_sales)} · "
            f"issued {amount(recon.issued)} · unrecorded {unrecorded} ndau",
            severity=severity,
            timeout=10,
        )


def _lagging(recon: Reconciliation, slack_s: float = 600.0) -> bool:
    """Has the issuer scanned Bitmart to (nearly) the end of the range? Settling lags a bit."""
    if recon.scanned_until is None:
        return True
    try:
        end = datetime.fromisoformat(recon.end)
        scanned = datetime.fromisoformat(recon.scanned_until)
    except ValueError:
        return False
    return (end - scanned).total_seconds() > slack_s


def _empty_note(total: int, view: str, error: str | None) -> Text:
    """Why no issue is selected: none could be read, none in this view, or none at all."""
    if error and total == 0:
        return Text(f"{DASH} issues unavailable: {error}", style="yellow")
    if total:
        return Text(f"No issues in view '{view}' (f changes the view)", style="dim")
    return Text("No issues yet: sales on Bitmart become issues here.", style="dim")


def _haystack(issue: IssueOut) -> str:
    parts = (str(issue.id), issue.state, issue.tx_hash, issue.decided_by, issue.last_error)
    return " ".join(p.lower() for p in parts if p)


def _note(issue: IssueOut) -> Text:
    if issue.last_error and issue.state not in ("confirmed", "rejected"):
        return Text(issue.last_error, style="red", overflow="ellipsis", no_wrap=True)
    if issue.state == "confirmed":
        return Text(f"block {issue.block_height}", style="dim")
    if issue.decided_by:
        return Text(
            f"{issue.decided_by}: {issue.decision_reason or ''}",
            style="dim",
            overflow="ellipsis",
            no_wrap=True,
        )
    return Text("")
