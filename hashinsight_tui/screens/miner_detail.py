"""Drill-down on one miner: every field, boards and their chips, pools, history, alerts, commands.

The live row (stream) and the REST detail are merged by `polled_at`, so the screen follows the
miner between snapshots. Actions go through the Fleet screen, which owns confirmation and the
command log; an action the miner's firmware does not support (the detail's `capabilities`) is
greyed in the footer and listed with the reason, never offered and then refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from hashinsight_contract.fleet import MinerHistory
from hashinsight_tui.client import ApiError, HashInsightClient
from hashinsight_tui.fleet_model import (
    PROBLEM_TEXT,
    as_dict,
    hashrate_pct,
    page_items,
    problem,
    shown_status,
)
from hashinsight_tui.format import DASH, TIME_SECONDS, age, ago, when_epoch
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.store import Store, later
from hashinsight_tui.widgets.fleet_table import (
    STATUS_STYLE,
    fmt_hashrate,
    fmt_num,
    fmt_power,
    fmt_usd,
    location_text,
    temp_style,
)
from hashinsight_tui.widgets.sparkline import Sparkline

if TYPE_CHECKING:
    from hashinsight_tui.screens.fleet import FleetScreen

PERIODS = ("1h", "6h", "24h", "7d", "30d")
PERIOD_S = {"1h": 3600, "6h": 6 * 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
CHIP_OK, CHIP_FAILED, CHIP_UNKNOWN = "●", "✕", "·"
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
SNAP_COMMANDS = "fleet.commands"
# The screen's actions and the commands they send (for the miner's `capabilities`).
ACTION_COMMANDS = {
    "restart": "restart",
    "switch_pool": "switchpool",
    "sleep": "sleep",
    "wake": "wake",
}


def _val(value: Any, digits: int = 1, unit: str = "") -> str:
    return fmt_num(value, digits, unit) if isinstance(value, int | float) else DASH


def chip_map(board: Mapping[str, Any], width: int = 60, expected: int | None = None) -> Text:
    """The board's chips as glyphs: ok, failed, then not answering (expected minus counted).

    Firmwares report chip counts, not which chip failed, so the map shows how many, not where.
    `expected` stands in when the board itself states none (a dead board often does not).
    """
    ok, failed = board.get("chips_ok"), board.get("chips_failed")
    expected = board.get("chips_expected") or expected
    if expected is None and ok is None:
        return Text("chip counts not reported by this firmware", style="dim")
    ok = ok or 0
    failed = failed or 0
    missing = max(0, (expected or 0) - ok - failed)
    text = Text()
    glyphs = [(CHIP_OK, "green")] * ok + [(CHIP_FAILED, "bold red")] * failed
    glyphs += [(CHIP_UNKNOWN, "dim")] * missing
    for i, (glyph, style) in enumerate(glyphs):
        if i and i % width == 0:
            text.append("\n")
        text.append(glyph, style=style)
    return text


def fields_table(miner: Mapping[str, Any]) -> Table:
    """Every scalar field of the miner object, two label/value pairs per row."""
    pct = hashrate_pct(miner)
    fans = miner.get("fans_rpm") or []
    pairs: list[tuple[str, Text | str]] = [
        ("Hashrate 5s", fmt_hashrate(miner.get("hashrate_ths"))),
        ("Hashrate avg", fmt_hashrate(miner.get("hashrate_avg_ths"))),
        ("Expected", fmt_hashrate(miner.get("hashrate_expected_ths"))),
        ("Of expected", DASH if pct is None else f"{pct:.1f}%"),
        ("Power", fmt_power(miner.get("power_w"))),
        ("Efficiency", _val(miner.get("efficiency_jth"), 1, " J/TH")),
        ("Inlet", _temp(miner.get("temp_inlet_c"))),
        ("Outlet", _temp(miner.get("temp_outlet_c"))),
        ("Board max", _temp(miner.get("temp_board_max_c"))),
        ("Chip max", _temp(miner.get("temp_chip_max_c"))),
        ("Fans", " ".join(f"{rpm:,}" for rpm in fans) + " rpm" if fans else DASH),
        ("Uptime", age(miner.get("uptime_s"))),
        ("Accepted", _val(miner.get("accepted"), 0)),
        ("Rejected", _val(miner.get("rejected"), 0)),
        ("HW errors", _val(miner.get("hardware_errors"), 0)),
        ("Open alerts", _val(miner.get("open_alerts"), 0)),
        ("Revenue/day", fmt_usd(miner.get("revenue_usd_day"))),
        ("Cost/day", fmt_usd(miner.get("cost_usd_day"))),
        ("Profit/day", _profit(miner.get("profit_usd_day"))),
        ("Address", f"{miner.get('host') or DASH}:{miner.get('port') or DASH}"),
        ("Last seen", _ago(miner.get("last_seen"))),  # from now: it grows while it is dark
        ("Polled", _ago(miner.get("polled_at"))),
    ]
    table = Table.grid(padding=(0, 1), expand=False)
    for _ in range(2):
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True, min_width=14)
    for i in range(0, len(pairs), 2):
        row: list[Text | str] = []
        for label, value in pairs[i : i + 2]:
            row += [label, value]
        table.add_row(*row)
    return table


def _temp(value: Any) -> Text:
    if value is None:
        return Text(DASH, style="dim")
    return Text(f"{value:.1f} °C", style=temp_style(value) or "")


def _profit(value: Any) -> Text:
    if value is None:
        return Text(DASH, style="dim")
    return Text(fmt_usd(value), style="red" if value < 0 else "green")


def _ago(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return DASH
    now = time.time()
    return ago(now - ts) if now >= ts else "now"


def boards_view(boards: Sequence[Mapping[str, Any]] | None) -> Group | Text:
    if boards is None:
        return Text("boards: loading…", style="dim")
    if not boards:
        return Text("no hashboards reported", style="dim")
    parts: list[Text] = []
    # a dead board tends to report no expected count: its siblings say what it should have
    siblings = max((int(b.get("chips_expected") or 0) for b in boards), default=0) or None
    for board in boards:
        head = Text.assemble(
            (f"Board {board.get('index', DASH)}", "bold"),
            "  ",
            chips_text(board, siblings),
            ("  ", ""),
            (
                f"{_val(board.get('chips_failed'), 0)} failed",
                "red" if board.get("chips_failed") else "dim",
            ),
            f"  {fmt_hashrate(board.get('hashrate_ths'))}",
            "  board ",
            _temp(board.get("temp_board_c")),
            "  chip ",
            _temp(board.get("temp_chip_c")),
        )
        parts += [head, chip_map(board, expected=siblings)]
    return Group(*parts)


def chips_text(board: Mapping[str, Any], siblings: int | None = None) -> Text:
    """`114/114 chips ok`; a board with no working chip is a problem: `0/114 chips` in red."""
    ok, expected = board.get("chips_ok"), board.get("chips_expected") or siblings
    if ok is None:
        return Text("chips not reported", style="dim")
    of = _val(expected, 0) if expected else "?"
    if ok == 0:
        return Text(f"0/{of} chips — dead board", style="bold red")
    if expected and ok < expected:
        return Text(f"{ok}/{of} chips ok", style="yellow")
    return Text(f"{ok}/{of} chips ok")


def pools_view(pools: Sequence[Mapping[str, Any]] | None) -> Table | Text:
    if pools is None:
        return Text("pools: loading…", style="dim")
    if not pools:
        return Text("no pools reported", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for name in ("#", "URL", "User", "Status", "Acc", "Rej", "Stale"):
        table.add_column(name, no_wrap=name != "URL", overflow="fold")
    for index, pool in enumerate(pools):
        active = bool(pool.get("active"))
        status = str(pool.get("status") or DASH)
        table.add_row(
            Text(f"{index}{'*' if active else ''}", style="bold green" if active else ""),
            str(pool.get("url") or DASH),
            str(pool.get("user") or DASH),
            Text(status, style="green" if status.lower() == "alive" else "red"),
            _val(pool.get("accepted"), 0),
            _val(pool.get("rejected"), 0),
            _val(pool.get("stale"), 0),
        )
    return table


def alerts_view(alerts: Sequence[Mapping[str, Any]]) -> Text:
    if not alerts:
        return Text("no alerts", style="dim")
    text = Text()
    for alert in alerts[:10]:
        state = str(alert.get("state") or DASH)
        text.append(
            f"{alert.get('severity') or DASH:<8} ",
            SEVERITY_STYLE.get(str(alert.get("severity")), ""),
        )
        text.append(f"{state:<12} ", "dim" if state == "cleared" else "bold")
        text.append(f"{alert.get('rule') or DASH}: {alert.get('message') or ''}\n")
    return text


class MinerDetailScreen(BaseScreen):
    SCREEN_TITLE = "Miner"
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"restart", "switch_pool", "sleep", "wake", "acknowledge"}
    )
    DEFAULT_CSS = """
    MinerDetailScreen #miner-title { height: auto; padding: 0 1; background: $boost; }
    MinerDetailScreen #miner-body { height: 1fr; padding: 0 1; }
    MinerDetailScreen .miner-section { margin-top: 1; text-style: bold; color: $accent; }
    MinerDetailScreen #miner-charts { height: auto; }
    MinerDetailScreen #miner-charts Sparkline { height: 4; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "app.pop_screen", "Back", id="miner.back"),
        Binding("h", "next_period", "History period", id="miner.period"),
        Binding("r", "restart", "Restart", id="miner.restart"),
        Binding("o", "switch_pool", "Pool", id="miner.pool"),
        Binding("z", "sleep", "Sleep", id="miner.sleep"),
        Binding("w", "wake", "Wake", id="miner.wake"),
        Binding("k", "acknowledge", "Ack alerts", id="miner.ack"),
    ]

    def __init__(self, miner_id: str, fleet: FleetScreen) -> None:
        super().__init__()
        self.miner_id = miner_id
        self.fleet = fleet
        self.period = "1h"
        self._refused: dict[str, str] = {}  # command -> why the firmware cannot take it

    @staticmethod
    def unsupported_actions(detail: Mapping[str, Any]) -> dict[str, str]:
        """Commands the backend says this miner cannot take, with its reason (none stated:
        none refused, the miner answers for itself)."""
        capabilities = detail.get("capabilities")
        if not isinstance(capabilities, Mapping):
            return {}
        refused = {}
        for command in ACTION_COMMANDS.values():
            capability = capabilities.get(command)
            if isinstance(capability, Mapping) and not capability.get("supported", True):
                refused[command] = str(capability.get("reason") or "not supported")
        return refused

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and ACTION_COMMANDS.get(action) in self._refused:
            return None  # shown greyed: the firmware cannot do it
        return allowed

    @property
    def _key(self) -> str:
        return f"miner.{self.miner_id}"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="miner-title")
        with VerticalScroll(id="miner-body"):
            yield Static("", id="miner-fields")
            yield Static("Hashboards", classes="miner-section")
            yield Static("", id="miner-boards")
            yield Static("Pools", classes="miner-section")
            yield Static("", id="miner-pools")
            yield Static("History", classes="miner-section", id="miner-history-title")
            with Vertical(id="miner-charts"):
                yield Sparkline("Hashrate", unit=" TH/s", style="cyan", id="chart-hashrate")
                yield Sparkline("Power", unit=" W", style="yellow", id="chart-power")
                yield Sparkline("Chip max", unit=" °C", style="red", id="chart-temp")
            yield Static("Alerts", classes="miner-section")
            yield Static("", id="miner-alerts")
            yield Static("Commands", classes="miner-section")
            yield Static("", id="miner-commands")

    def on_mount(self) -> None:
        self.query_one("#miner-body").focus()
        self.call_after_refresh(self.hi_app.fetch_active)

    # --- data ---------------------------------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        key = self._key
        values: dict[str, Any] = {}
        try:
            values[f"{key}.detail"] = as_dict(await client.miner(self.miner_id))
        except ApiError as exc:
            if exc.status != 404:
                raise
            values[f"{key}.detail"] = {"id": self.miner_id, "missing": exc.message}
            return values
        history, alerts, commands = await asyncio.gather(
            client.miner_history(self.miner_id, self.period),
            client.alerts(miner_id=self.miner_id),
            client.fleet_commands(None),
        )
        values[f"{key}.history"] = history
        values[f"{key}.alerts"] = page_items(alerts)[0]
        values[SNAP_COMMANDS] = page_items(commands)[0]
        return values

    def current(self, store: Store) -> dict[str, Any] | None:
        """The REST detail overlaid with a newer streamed row (same `polled_at` rule)."""
        detail = store.snapshots.get(f"{self._key}.detail")
        live = store.latest.get("miners", {}).get(self.miner_id)
        row = self.fleet.model.get(self.miner_id)
        newest: dict[str, Any] | None = None
        for candidate in (row, live, detail):
            if not candidate:
                continue
            if newest is None:
                newest = dict(candidate)
            elif later(candidate.get("polled_at"), newest.get("polled_at")):
                newest = newest | candidate
            else:
                newest = candidate | newest
        return newest

    def refresh_view(self, store: Store) -> None:
        miner = self.current(store)
        title = self.query_one("#miner-title", Static)
        detail = store.snapshots.get(f"{self._key}.detail") or {}
        if miner is None or detail.get("missing"):
            why = detail.get("missing") or "loading…"
            title.update(Text(f"{self.miner_id}: {why}", style="yellow"))
            return
        status = shown_status(miner) or DASH
        heading = Text.assemble(
            (f"● {status}", STATUS_STYLE.get(status, "dim")),
            "  ",
            (self.miner_id, "bold"),
            f"  {miner.get('model') or DASH} · {miner.get('firmware') or DASH}",
            f" · {location_text(miner)}",
        )
        reason = miner.get("error") or PROBLEM_TEXT.get(problem(miner) or "")
        if reason:
            heading.append(f"\n{reason}", style="red")
        refused = self.unsupported_actions(detail)
        if refused:
            heading.append("\nnot on this firmware: ", style="dim")
            heading.append(
                "; ".join(f"{command} ({why})" for command, why in refused.items()), style="dim"
            )
        if refused != self._refused:
            self._refused = refused
            self.refresh_bindings()  # grey out what the firmware cannot do
        title.update(heading)
        self.query_one("#miner-fields", Static).update(fields_table(miner))
        self.query_one("#miner-boards", Static).update(boards_view(detail.get("boards")))
        self.query_one("#miner-pools", Static).update(pools_view(detail.get("pools")))
        self._show_history(store.snapshots.get(f"{self._key}.history"))
        self._show_alerts(store)
        self._show_commands(store)

    def _show_history(self, history: MinerHistory | None) -> None:
        header = self.query_one("#miner-history-title", Static)
        points = history.points if history is not None else []
        if history is not None and history.period != self.period:
            points = []  # a different period is on its way
        resolution = history.resolution_s if history is not None else None
        note = f" · {len(points)} points" + (f" every {age(resolution)}" if resolution else "")
        header.update(f"History {self.period} (h changes){note if points else ''}")
        why = "loading…" if history is None else "no samples in this period"
        times = [point.ts for point in points]
        end = max([time.time(), *times])
        span = (end - PERIOD_S[self.period], end)
        for chart_id, field in (
            ("#chart-hashrate", "hashrate_ths"),
            ("#chart-power", "power_w"),
            ("#chart-temp", "temp_chip_max_c"),
        ):
            values = [getattr(point, field) for point in points]
            note = (
                why
                if not points
                else ("" if any(v is not None for v in values) else "not reported by this miner")
            )
            self.query_one(chart_id, Sparkline).set_series(values, note, times=times, span=span)

    def _show_alerts(self, store: Store) -> None:
        fetched = {str(a.get("id")): a for a in store.snapshots.get(f"{self._key}.alerts") or []}
        for alert in store.latest.get("alerts", {}).values():  # live lifecycle changes
            if alert.get("miner_id") == self.miner_id:
                fetched[str(alert.get("id"))] = alert
        order = {"raised": 0, "acknowledged": 1, "cleared": 2}
        alerts = sorted(
            fetched.values(),
            key=lambda a: (order.get(str(a.get("state")), 3), -(a.get("raised_at") or 0)),
        )
        self.query_one("#miner-alerts", Static).update(alerts_view(alerts))

    def _show_commands(self, store: Store) -> None:
        entries = self.fleet.miners_commands(self.miner_id, store)
        text = Text("times in UTC\n", style="dim") if entries else Text()
        if not entries:
            text.append("no commands", style="dim")
        for entry in entries[:10]:
            text.append_text(log_line(entry))
            text.append("\n")
        self.query_one("#miner-commands", Static).update(text)

    # --- keys ---------------------------------------------------------------------------------

    def action_next_period(self) -> None:
        self.period = PERIODS[(PERIODS.index(self.period) + 1) % len(PERIODS)]
        self._show_history(self.hi_app.store.snapshots.get(f"{self._key}.history"))
        self.hi_app.fetch_active()

    def action_restart(self) -> None:
        self.fleet.request_command("restart", [self.miner_id])

    def action_switch_pool(self) -> None:
        self.fleet.request_command("switchpool", [self.miner_id])

    def action_sleep(self) -> None:
        self.fleet.request_command("sleep", [self.miner_id])

    def action_wake(self) -> None:
        self.fleet.request_command("wake", [self.miner_id])

    def action_acknowledge(self) -> None:
        self.fleet.request_acknowledge([self.miner_id])


# --- the command log (shared with the Fleet screen) ------------------------------------------

STATE_STYLE = {
    "succeeded": "green",
    "accepted": "yellow",  # the miner took it, its effect is not (yet) verified
    "sent": "cyan",
    "pending_approval": "yellow",
    "refused": "red",
    "failed": "red",
    "rejected": "red",
    "unknown": "yellow",  # no answer in time: it may have run (the backend's log tells)
}


def entry_time(entry: Mapping[str, Any]) -> float:
    for key in ("ts", "created_at", "requested_at", "updated_at"):
        value = entry.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def merged_log(
    local: Sequence[Mapping[str, Any]], remote: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The backend's entry wins for a command it knows; this session's fill gaps; newest first."""
    by_id: dict[str, dict[str, Any]] = {}
    loose: list[dict[str, Any]] = []
    for entry in [*local, *remote]:
        command_id = entry.get("command_id")
        if command_id is None:
            loose.append(dict(entry))
        else:
            by_id[str(command_id)] = by_id.get(str(command_id), {}) | dict(entry)
    return sorted([*by_id.values(), *loose], key=entry_time, reverse=True)


def shown_state(entry: Mapping[str, Any]) -> str:
    """A command's state as an operator should read it: `succeeded` only when its effect was
    verified or cannot be; a command the miner took but whose effect the read-back did not see
    is `accepted`, never a green "succeeded" beside "not verified"."""
    state = str(entry.get("state") or DASH)
    return "accepted" if state == "succeeded" and entry.get("verified") is False else state


def log_line(entry: Mapping[str, Any]) -> Text:
    when = entry_time(entry)
    stamp = when_epoch(when, TIME_SECONDS) if when else "--:--:--"
    state = shown_state(entry)
    return Text.assemble(
        (stamp, "dim"),
        f"  {entry.get('command') or DASH:<10} {entry.get('miner_id') or DASH:<20} ",
        (state.replace("_", " "), STATE_STYLE.get(state, "")),
        (f"  {entry.get('result')}" if entry.get("result") else "", "dim"),
        (
            f"  {entry.get('verification')}" if entry.get("verification") else "",
            "green" if entry.get("verified") else "yellow",
        ),
    )
