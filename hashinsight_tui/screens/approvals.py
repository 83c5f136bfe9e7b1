"""The approval queue: everything waiting for on-call staff, in one place.

Fleet commands requested with a semi-automatic key and ndau issues awaiting approval are two
queues in the backend; the person on call should not have to visit two screens to find what is
waiting, nor guess which key may decide. Oldest first, because the oldest waits longest.

Both queues are pushed: a new request or a decision taken on another console arrives on the
stream (`command.update` on `miners`, `issue.update` / `approval.pending` on `issues`) and is
merged over the last REST list at once, so two operators never decide the same item twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from hashinsight_contract.fleet import CommandOut
from hashinsight_tui.client import ApiError, ConnectionLost, HashInsightClient, IssueOut
from hashinsight_tui.format import DASH, age, ndau
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import DecisionScreen
from hashinsight_tui.store import Store, merge_by_id
from hashinsight_tui.widgets.line_table import LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show

SNAP_COMMANDS = "approvals.commands"
SNAP_ISSUES = "approvals.issues"
SNAP_ERRORS = "approvals.errors"
FLEET_SCOPE = "fleet:control"
ISSUER_SCOPE = "issuer:approve"
COLUMNS = [
    TableColumn("kind", "Queue"),
    TableColumn("ref", "Id"),
    TableColumn("what", "Action"),
    TableColumn("target", "On"),
    TableColumn("by", "Requested by"),
    TableColumn("waiting", "Waiting"),
]


@dataclass(frozen=True, slots=True)
class Pending:
    """One item waiting for a decision, whichever queue it came from."""

    kind: str  # "fleet" | "issuer"
    ref: str  # command id, or issue id as text
    what: str
    target: str
    requested_by: str
    since: float  # unix seconds
    scope: str

    @property
    def row_key(self) -> str:
        return f"{self.kind}:{self.ref}"


def pending_commands(commands: list[CommandOut]) -> list[Pending]:
    result = []
    for command in commands:
        if command.state != "pending_approval":
            continue
        args = " ".join(f"{k}={v}" for k, v in sorted(command.params.items()))
        result.append(
            Pending(
                kind="fleet",
                ref=command.command_id,
                what=f"{command.command} {args}".strip(),
                target=command.miner_id,
                requested_by=command.requested_by or "?",
                since=command.created_at,
                scope=FLEET_SCOPE,
            )
        )
    return result


def merge_commands(
    rest: Iterable[CommandOut], streamed: Iterable[Mapping[str, Any]]
) -> list[CommandOut]:
    """One entry per command id, REST or stream, whichever was updated last; a streamed
    update that does not fit the command model is skipped."""
    return merge_by_id(
        rest,
        streamed,
        CommandOut,
        lambda command: command.updated_at,
        lambda command: command.command_id,
    )


def pending_issues(issues: list[IssueOut]) -> list[Pending]:
    return [
        Pending(
            kind="issuer",
            ref=str(issue.id),
            what=f"issue {ndau(issue.qty_ndau)} ndau",
            target=f"{issue.trade_count} Bitmart sale(s) {issue.symbol}",
            requested_by=f"issuer ({issue.mode})",
            since=_timestamp(issue.created_at),
            scope=ISSUER_SCOPE,
        )
        for issue in issues
        if issue.state == "awaiting_approval"
    ]


def _timestamp(iso: str | None) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return 0.0


class ApprovalsScreen(BaseScreen):
    SCREEN_TITLE = "Approvals"
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {"q": ()}
    CHANNELS: ClassVar[tuple[str, ...]] = ("issues", "miners")
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"approve", "reject"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("a", "approve", "Approve", id="approvals.approve"),
        Binding("x", "reject", "Reject", id="approvals.reject"),
        Binding("enter", "open", "Open", id="approvals.open"),
    ]
    DEFAULT_CSS = """
    ApprovalsScreen #approvals-summary { height: auto; padding: 0 1; }
    ApprovalsScreen #approvals-table { height: 1fr; }
    ApprovalsScreen #approvals-detail {
        height: auto; max-height: 5; padding: 0 1; border-top: hkey $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self._rows: dict[str, Pending] = {}  # by row key, as shown

    def compose_body(self) -> ComposeResult:
        yield Static(Text("— waiting for the backend…", style="dim"), id="approvals-summary")
        yield LineTable(COLUMNS, sortable=False, id="approvals-table")  # always oldest first
        yield Static("", id="approvals-detail")

    # --- data ------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        try:
            page = await client.fleet_commands("pending_approval", limit=500)
            values[SNAP_COMMANDS] = page.items
        except (ApiError, ConnectionLost) as exc:
            errors["fleet"] = str(exc)
        try:
            issues = await client.issuer_issues(["awaiting_approval"], limit=200)
            values[SNAP_ISSUES] = issues.issues
        except (ApiError, ConnectionLost) as exc:
            errors["issuer"] = str(exc)
        values[SNAP_ERRORS] = errors
        return values

    def pending(self, store: Store) -> list[Pending]:
        streamed = [d for d in store.latest.get("issues", {}).values() if "state" in d]
        rest: list[IssueOut] = store.snapshots.get(SNAP_ISSUES) or []
        issues = merge_by_id(rest, streamed, IssueOut, lambda issue: issue.updated_at)
        queued: list[CommandOut] = store.snapshots.get(SNAP_COMMANDS) or []
        commands = merge_commands(queued, self.hi_app.command_updates.values())
        items = pending_commands(commands) + pending_issues(issues)
        return sorted(items, key=lambda p: (p.since, p.kind, p.ref))

    def refresh_view(self, store: Store) -> None:
        everything = self.pending(store)
        needle = self.filter_text.lower()
        rows = [p for p in everything if not needle or needle in _haystack(p)]
        show(
            self.query_one("#approvals-summary", Static),
            self._summary(store, everything, len(rows)),
        )
        now = time.time()
        cells = []
        for item in rows:
            mine = self._mine(item)
            cells.append(
                (
                    item.row_key,
                    (
                        Text(item.kind, style="cyan" if item.kind == "fleet" else "magenta"),
                        item.ref,
                        item.what,
                        item.target,
                        Text(
                            item.requested_by + (" (you)" if mine else ""),
                            style="dim" if mine else "",
                        ),
                        age(now - item.since) if item.since else DASH,
                    ),
                )
            )
        self._rows = {item.row_key: item for item in rows}
        # The cursor stays on the item it was on while that item is still shown.
        self.query_one("#approvals-table", LineTable).set_rows(cells)
        self._show_detail()

    def _summary(self, store: Store, everything: list[Pending], shown: int) -> Text:
        text = Text()
        fleet = sum(1 for p in everything if p.kind == "fleet")
        issuer = len(everything) - fleet
        text.append(f"{len(everything)} waiting", style="bold yellow" if everything else "green")
        text.append(f" · fleet commands {fleet} · ndau issues {issuer}")
        if shown != len(everything):
            text.append(f" · {shown} match the filter", style="dim")
        errors = store.snapshots.get(SNAP_ERRORS) or {}
        for queue, error in sorted(errors.items()):
            text.append(f"\n{queue}: {error}", style="red")
        key = store.key
        if key is not None:
            can = [s for s in (FLEET_SCOPE, ISSUER_SCOPE) if key.has(s)]
            text.append(
                "\nYour key may decide: " + (", ".join(can) if can else "nothing (read-only)"),
                style="dim",
            )
        return text

    def _mine(self, item: Pending) -> bool:
        key = self.hi_app.store.key
        return key is not None and item.requested_by.startswith(f"key:{key.key_id}(")

    def selected(self) -> Pending | None:
        key = self.query_one("#approvals-table", LineTable).cursor_key
        return self._rows.get(key) if key is not None else None

    def _show_detail(self) -> None:
        item = self.selected()
        detail = self.query_one("#approvals-detail", Static)
        if item is None:
            show(detail, Text("Nothing is waiting for a decision.", style="dim"))
            return
        text = Text()
        text.append(f"{item.kind} {item.ref}: ", style="bold")
        text.append(f"{item.what} on {item.target}\n")
        text.append(f"requested by {item.requested_by}", style="dim")
        if self._mine(item):
            text.append(" · you asked for this: another operator's key must decide", style="yellow")
        elif not self._may_decide(item):
            text.append(f" · deciding needs the {item.scope} scope", style="yellow")
        else:
            text.append(" · a approve · x reject (the reason is audited)", style="dim")
        show(detail, text)

    @on(LineTable.CursorMoved, "#approvals-table")
    def _cursor_moved(self, _event: LineTable.CursorMoved) -> None:
        self._show_detail()

    @on(LineTable.RowSelected, "#approvals-table")
    def _row_selected(self, _event: LineTable.RowSelected) -> None:
        self.action_open()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self.refresh_view(self.hi_app.store)

    # --- actions ---------------------------------------------------------------------------

    def _may_decide(self, item: Pending) -> bool:
        key = self.hi_app.store.key
        return key is not None and not self.hi_app.read_only and key.has(item.scope)

    def action_open(self) -> None:
        item = self.selected()
        if item is None:
            return
        if item.kind == "issuer":
            self.hi_app.action_go("issuer", {"q": "awaiting_approval"})
        else:
            self.hi_app.action_go("fleet", {"q": item.target})

    @work(exclusive=True, group="approvals-write")
    async def action_approve(self) -> None:
        await self._decide(approve=True)

    @work(exclusive=True, group="approvals-write")
    async def action_reject(self) -> None:
        await self._decide(approve=False)

    async def _decide(self, *, approve: bool) -> None:
        item = self.selected()
        client = self.hi_app.client
        if item is None or client is None:
            self.notify("Nothing selected", severity="warning")
            return
        if not self._may_decide(item):
            self.notify(f"Your key cannot decide this: it needs {item.scope}", severity="warning")
            return
        verb = "Approve" if approve else "Reject"
        reason = await self.app.push_screen_wait(
            DecisionScreen(
                f"{verb} {item.kind} {item.ref}: {item.what} on {item.target}?",
                verb,
                # Fleet decisions always carry a reason; an issue needs one only to reject it.
                need_reason=item.kind == "fleet" or not approve,
                danger=not approve,
            )
        )
        if reason is None:
            return
        try:
            if item.kind == "fleet":
                call = client.approve_command if approve else client.reject_command
                await call(item.ref, reason)
            elif approve:
                await client.approve_issue(int(item.ref), reason or None)
            else:
                await client.reject_issue(int(item.ref), reason)
        except ApiError as exc:
            self.notify(f"{item.kind} {item.ref} not changed: {exc}", severity="error")
        except ConnectionLost as exc:  # the decision may have been taken: the list will tell
            self.notify(
                f"{item.kind} {item.ref}: {exc}; it may have been decided: see its state",
                severity="warning",
            )
        else:
            self.notify(f"{item.kind} {item.ref} {'approved' if approve else 'rejected'}")
        self.hi_app.fetch_active()


def _haystack(item: Pending) -> str:
    return " ".join((item.kind, item.ref, item.what, item.target, item.requested_by)).lower()
