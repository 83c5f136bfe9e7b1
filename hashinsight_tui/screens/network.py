"""The Network screen: hashrate (with its chart), difficulty and the next adjustment, the tip and
the latest blocks, and hashprice with the inputs it was computed from.

Data: REST snapshots (stats, blocks, hashrate history) merged with the `network` and `blocks`
streams. Each figure shows its source and age; STALE in red when it is a cached value or too old.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from hashinsight_contract.market import Freshness
from hashinsight_contract.network import HashrateHistory, NetworkStats
from hashinsight_tui.client import ApiError, ChainBlock, ChainBlocks, HashInsightClient
from hashinsight_tui.format import DASH, DATE_MINUTES, age, local_age, when_epoch
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.store import Store, newest
from hashinsight_tui.widgets.history_chart import HistoryChart
from hashinsight_tui.widgets.line_table import Cell, LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show
from hashinsight_tui.widgets.sourced import NETWORK_STALE_S, PRICE_STALE_S, pct, provenance, usd

SNAP_STATS = "network.stats"
SNAP_BLOCKS = "network.blocks"
PERIODS = ("3d", "1w", "1m", "3m")
KEY_PERIODS = {"d": "3d", "w": "1w", "m": "1m"}
HISTORY_REFRESH_S = 300.0
MAX_BLOCKS = 15
BLOCK_COLUMNS = (
    TableColumn("height", "Height"),
    TableColumn("age", "Age"),
    TableColumn("txs", "Txs"),
    TableColumn("size", "Size"),
    TableColumn("fees", "Fees BTC"),
    TableColumn("reward", "Reward BTC"),
    TableColumn("median", "Med sat/vB"),
    TableColumn("pool", "Pool"),
)


def history_key(period: str) -> str:
    return f"network.hashrate.{period}"


def merged_blocks(store: Store) -> list[ChainBlock]:
    """REST blocks plus every streamed `block.new`, one per height, newest first."""
    by_height: dict[int, ChainBlock] = {}
    rest = store.snapshots.get(SNAP_BLOCKS)
    if isinstance(rest, ChainBlocks):
        by_height.update((b.height, b) for b in rest.blocks)
    for event in store.recent.get("blocks", ()):
        if event.event == "block.new":
            try:
                block = ChainBlock.model_validate(event.data)
            except ValidationError:
                continue  # a malformed event never hides the blocks already known
            by_height[block.height] = block
    return [by_height[h] for h in sorted(by_height, reverse=True)[:MAX_BLOCKS]]


def sourced(label: str, item: Freshness | None) -> Text:
    if item is None:
        return Text(f"{label} {DASH}", style="dim")
    limit = PRICE_STALE_S if label == "price" else NETWORK_STALE_S
    return Text.assemble(
        (f"{label} ", "dim"), provenance(item.source, item.as_of, item.stale, item.via, limit)
    )


def difficulty_text(value: float) -> str:
    return f"{value / 1e12:,.2f} T"


class NetworkScreen(BaseScreen):
    SCREEN_TITLE = "Network"
    # Every figure shows its age, so the clock redraws the screen once a second anyway; a streamed
    # batch (the console's stream carries every screen's channels) waits for that tick.
    RENDER_ON_TICK = True
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {"period": PERIODS}
    CHANNELS: ClassVar[tuple[str, ...]] = ("network", "blocks")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("d", "period('3d')", "3 days", id="network.period_3d"),
        Binding("w", "period('1w')", "1 week", id="network.period_1w"),
        Binding("m", "period('1m')", "1 month", id="network.period_1m"),
        Binding("c", "cycle_period", "Next period", show=False, id="network.period_next"),
    ]
    DEFAULT_CSS = """
    NetworkScreen .network-line {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    NetworkScreen #network-hashprice-inputs {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    NetworkScreen #network-chart {
        min-height: 5;
    }
    NetworkScreen #network-blocks {
        height: 1fr;
        min-height: 4;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.period = "1m"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="network-summary", classes="network-line")
        yield Static("", id="network-adjustment", classes="network-line")
        yield Static("", id="network-hashprice", classes="network-line")
        yield Static("", id="network-hashprice-inputs")
        yield HistoryChart(
            label="Hashrate",
            keys="[d] 3d [w] 1w [m] 1m [c] next",
            remark="(daily means)",
            unit=" EH/s",
            style="magenta",
            id="network-chart",
        )
        yield LineTable(BLOCK_COLUMNS, sortable=False, id="network-blocks")

    # ------------------------------------------------------------------ data (worker)

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        try:
            values[SNAP_STATS] = await client.network_stats()
            values[f"{SNAP_STATS}.error"] = None
        except ApiError as exc:
            values[f"{SNAP_STATS}.error"] = exc.message
        try:
            values[SNAP_BLOCKS] = await client.network_blocks()
            values[f"{SNAP_BLOCKS}.error"] = None
        except ApiError as exc:
            values[f"{SNAP_BLOCKS}.error"] = exc.message
        period = self.period
        fetched = self.hi_app.store.snapshot_at.get(history_key(period), 0.0)
        if time.time() - fetched > HISTORY_REFRESH_S:
            try:
                values[history_key(period)] = await client.hashrate_history(period)
                values[f"{history_key(period)}.error"] = None
            except ApiError as exc:
                values[f"{history_key(period)}.error"] = exc.message
        return values

    # ------------------------------------------------------------------ drawing

    def refresh_view(self, store: Store) -> None:
        self._draw_stats(store)
        self._draw_chart(store)
        self._draw_blocks(store)

    def _draw_stats(self, store: Store) -> None:
        summary = self.query_one("#network-summary", Static)
        adjustment = self.query_one("#network-adjustment", Static)
        hashprice = self.query_one("#network-hashprice", Static)
        inputs = self.query_one("#network-hashprice-inputs", Static)
        stats = newest(
            store,
            SNAP_STATS,
            "network",
            "network.update",
            NetworkStats.model_validate,
            lambda stats: stats.as_of,
        )
        if stats is None:
            why = store.snapshots.get(f"{SNAP_STATS}.error") or "waiting for network stats"
            show(summary, Text(f"Network — {why}", style="yellow"))
            for widget in (adjustment, hashprice, inputs):
                show(widget, "")
            return
        line = Text.assemble(
            ("Hashrate ", "bold"),
            (f"{stats.hashrate_ehs:,.1f} EH/s", "magenta"),
            ("  Difficulty ", "bold"),
            difficulty_text(stats.difficulty),
            ("  Tip ", "bold"),
            f"{stats.tip_height:,}",
            "  ",
            provenance(stats.source, stats.as_of, stats.stale, stats.via, NETWORK_STALE_S),
        )
        if stats.tip.source != stats.source:
            line.append_text(Text(f" (tip: {stats.tip.source})", style="dim"))
        show(summary, line)
        show(adjustment, _adjustment_text(stats))
        show(hashprice, _hashprice_text(stats))
        show(inputs, _inputs_text(stats))

    def _draw_chart(self, store: Store) -> None:
        key = history_key(self.period)
        history = store.snapshots.get(key)
        history = history if isinstance(history, HashrateHistory) else None
        self.query_one("#network-chart", HistoryChart).show(
            self.period,
            history,
            [(point.t, point.hashrate_ehs) for point in history.points] if history else [],
            store.snapshots.get(f"{key}.error"),
        )

    def _draw_blocks(self, store: Store) -> None:
        blocks = merged_blocks(store)
        self.query_one("#network-blocks", LineTable).set_rows(
            [(str(block.height), _block_cells(block)) for block in blocks]
        )

    # ------------------------------------------------------------------ actions

    def action_period(self, period: str) -> None:
        if period in PERIODS and period != self.period:
            self.period = period
            self.refresh_view(self.hi_app.store)
            self.hi_app.fetch_active()

    def action_cycle_period(self) -> None:
        self.action_period(PERIODS[(PERIODS.index(self.period) + 1) % len(PERIODS)])

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        super().apply_arguments(arguments)
        if arguments.get("period") in PERIODS:
            self.action_period(arguments["period"])


def _adjustment_text(stats: NetworkStats) -> Text:
    adjustment = stats.next_adjustment
    if adjustment is None:
        return Text("Next adjustment — no provider could estimate it", style="dim")
    eta = adjustment.estimated_date - time.time()
    when = when_epoch(adjustment.estimated_date, DATE_MINUTES) + " UTC"
    line = Text.assemble(("Next adjustment ", "bold"), pct(adjustment.estimated_change_pct))
    line.append(f" in {adjustment.remaining_blocks:,} blocks (~{age(eta)}, {when})")
    if adjustment.progress_pct is not None:
        line.append(f" · {adjustment.progress_pct:.0f}% of period", style="dim")
    line.append("  ")
    line.append_text(
        provenance(
            adjustment.source, adjustment.as_of, adjustment.stale, adjustment.via, NETWORK_STALE_S
        )
    )
    return line


def _hashprice_text(stats: NetworkStats) -> Text:
    value = stats.hashprice
    if value is None:
        reason = stats.hashprice_unavailable or "unknown"
        return Text.assemble(("Hashprice ", "bold"), (f"{DASH} ({reason})", "yellow"))
    line = Text.assemble(
        ("Hashprice ", "bold"),
        (f"{usd(value.usd_per_th_day, 4)} /TH/day", "bold green"),
        (f" ({value.btc_per_th_day * 1e8:,.1f} sat)", "dim"),
        "  = ",
        f"{value.blocks_per_day:g} blocks × ({value.block_subsidy_btc:g} + "
        f"{value.avg_fees_per_block_btc:.4f} fees) BTC × {usd(value.price_usd, 0)} "
        f"÷ {value.network_hashrate_hs / 1e12:,.0f} TH/s",
    )
    if value.stale:
        line.append("  STALE input", style="bold red")
    return line


def _inputs_text(stats: NetworkStats) -> Text:
    value = stats.hashprice
    if value is None:
        return Text("")
    names = (
        ("price", "price_usd"),
        ("hashrate", "network_hashrate_hs"),
        ("fees", "avg_fees_per_block_btc"),
    )
    line = Text("inputs: ", style="dim")
    for index, (label, key) in enumerate(names):
        item = value.inputs.get(key)
        if index:
            line.append(" · ", style="dim")
        line.append_text(sourced(label, item))
        if key == "avg_fees_per_block_btc" and item is not None and item.blocks:
            line.append(f" ({item.blocks} blocks)", style="dim")
    line.append(
        f" · subsidy from height {value.block_height:,} ({value.halvings} halvings)", style="dim"
    )
    return line


def _block_cells(block: ChainBlock) -> tuple[Cell, ...]:
    def maybe(value: float | None, fmt: str) -> str:
        return DASH if value is None else format(value, fmt)

    size = DASH if block.size_bytes is None else f"{block.size_bytes / 1e6:.2f} MB"
    return (
        Text(f"{block.height:,}", style="bold"),
        age(local_age(block.timestamp)),
        maybe(block.tx_count, ","),
        size,
        maybe(block.total_fees_btc, ".4f"),
        maybe(block.reward_btc, ".4f"),
        maybe(block.median_fee_rate, ".1f"),
        block.pool or DASH,
    )
