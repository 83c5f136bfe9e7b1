"""The Prices screen: live BTC price, its history chart, and the exchanges with their status.

Data: REST snapshots (current price, exchanges, the chart's history) merged with the `prices` and
`exchanges` streams, the newer winning. Every number shows its source and age; a cached value
after a provider outage is marked STALE in red; a missing one is "—" with the reason.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Static

from hashinsight_contract.market import PriceHistory
from hashinsight_tui.client import ApiError, ExchangesView, HashInsightClient, PriceNow, Venue
from hashinsight_tui.format import DASH, age, local_age
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.store import Store, newest
from hashinsight_tui.widgets.history_chart import HistoryChart
from hashinsight_tui.widgets.line_table import Cell, LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show
from hashinsight_tui.widgets.sourced import PRICE_STALE_S, compact, pct, provenance, usd

SNAP_PRICE = "prices.current"
SNAP_EXCHANGES = "prices.exchanges"
PERIODS = ("1d", "7d", "30d")
HISTORY_REFRESH_S = 60.0
VENUE_COLUMNS = (
    TableColumn("venue", "Venue"),
    TableColumn("status", "Status"),
    TableColumn("price", "Price"),
    TableColumn("quote", "Quote"),
    TableColumn("change", "24h"),
    TableColumn("volume_btc", "Vol BTC"),
    TableColumn("volume_quote", "Vol quote"),
    TableColumn("age", "Age"),
    TableColumn("note", "Note"),
)


def history_key(period: str) -> str:
    return f"prices.history.{period}"


class PricesScreen(BaseScreen):
    SCREEN_TITLE = "Prices"
    # Every figure shows its age, so the clock redraws the screen once a second anyway; a streamed
    # batch (the console's stream carries every screen's channels) waits for that tick.
    RENDER_ON_TICK = True
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {"period": PERIODS}
    CHANNELS: ClassVar[tuple[str, ...]] = ("prices", "exchanges")
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("d", "period('1d')", "1 day", id="prices.period_1d"),
        Binding("w", "period('7d')", "7 days", id="prices.period_7d"),
        Binding("m", "period('30d')", "30 days", id="prices.period_30d"),
    ]
    DEFAULT_CSS = """
    PricesScreen #prices-top {
        height: 3;
        padding: 0 1;
    }
    PricesScreen #prices-digits {
        width: auto;
        min-width: 20;
        margin-right: 2;
    }
    PricesScreen #prices-info {
        width: 1fr;
    }
    PricesScreen #prices-info Static {
        height: 1;
    }
    PricesScreen #prices-chart {
        min-height: 5;
    }
    PricesScreen #prices-venues {
        height: auto;
        max-height: 7;
    }
    PricesScreen #prices-aggregate {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.period = "1d"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="prices-top"):
            yield Digits(DASH, id="prices-digits")
            with Vertical(id="prices-info"):
                yield Static("BTC/USD", id="prices-change")
                yield Static("", id="prices-source")
                yield Static("", id="prices-fallback")
        yield HistoryChart(label="BTC/USD", keys="[d] 1d [w] 7d [m] 30d", id="prices-chart")
        yield LineTable(VENUE_COLUMNS, sortable=False, id="prices-venues")
        yield Static("", id="prices-aggregate")

    # ------------------------------------------------------------------ data (worker)

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        """Snapshots as plain dicts (so streamed events and REST merge the same way)."""
        values: dict[str, Any] = {}
        calls = ((SNAP_PRICE, client.price_current), (SNAP_EXCHANGES, client.exchanges))
        for name, call in calls:
            try:
                values[name] = await call()
                values[f"{name}.error"] = None
            except ApiError as exc:
                values[f"{name}.error"] = exc.message
        period = self.period
        fetched = self.hi_app.store.snapshot_at.get(history_key(period), 0.0)
        if time.time() - fetched > HISTORY_REFRESH_S:
            try:
                values[history_key(period)] = await client.price_history(period)
                values[f"{history_key(period)}.error"] = None
            except ApiError as exc:
                values[f"{history_key(period)}.error"] = exc.message
        return values

    # ------------------------------------------------------------------ drawing

    def refresh_view(self, store: Store) -> None:
        self._draw_price(store)
        self._draw_chart(store)
        self._draw_exchanges(store)

    def _draw_price(self, store: Store) -> None:
        digits = self.query_one("#prices-digits", Digits)
        change = self.query_one("#prices-change", Static)
        source = self.query_one("#prices-source", Static)
        fallback = self.query_one("#prices-fallback", Static)
        price = newest(
            store, SNAP_PRICE, "prices", "price.tick", PriceNow.model_validate, lambda p: p.as_of
        )
        if price is None:
            _show_digits(digits, DASH)
            why = store.snapshots.get(f"{SNAP_PRICE}.error") or "waiting for the first price"
            show(change, Text(f"BTC/USD — {why}", style="yellow"))
            show(source, "")
            show(fallback, "")
            return
        _show_digits(digits, f"{price.price_usd:,.2f}")
        line = Text.assemble(("BTC/USD ", "bold"), pct(price.change_24h_pct), " 24h")
        if price.change_24h_pct is None:
            line.append(f" (not given by {price.source})", style="dim")
        line.append(f"  vol {compact(price.volume_24h_usd, '$')}", style="")
        line.append(f"  mcap {compact(price.market_cap_usd, '$')}", style="")
        show(change, line)
        show(
            source,
            Text.assemble(
                "source ",
                provenance(price.source, price.as_of, price.stale, price.via, PRICE_STALE_S),
            ),
        )
        failed = [a for a in price.attempts if not a.ok]
        if failed:
            first = failed[0]
            note = f"fallback: {first.source} failed ({(first.error or '').split(': ', 1)[-1]})"
            if len(failed) > 1:
                note += f" +{len(failed) - 1} more"
            show(fallback, Text(note, style="yellow"))
        else:
            order = " → ".join(price.fallback_order)
            show(fallback, Text(f"order {order}", style="dim"))

    def _draw_chart(self, store: Store) -> None:
        key = history_key(self.period)
        history = store.snapshots.get(key)
        history = history if isinstance(history, PriceHistory) else None
        self.query_one("#prices-chart", HistoryChart).show(
            self.period,
            history,
            [(point.t, point.price_usd) for point in history.points] if history else [],
            store.snapshots.get(f"{key}.error"),
        )

    def _draw_exchanges(self, store: Store) -> None:
        table = self.query_one("#prices-venues", LineTable)
        aggregate_line = self.query_one("#prices-aggregate", Static)
        view = newest(
            store,
            SNAP_EXCHANGES,
            "exchanges",
            "exchanges.update",
            ExchangesView.model_validate,
            lambda view: view.checked_at,
        )
        if view is None:
            table.set_rows([])
            why = store.snapshots.get(f"{SNAP_EXCHANGES}.error") or "waiting for the exchanges"
            show(aggregate_line, Text(f"Exchanges — {why}", style="yellow"))
            return
        table.set_rows([(venue.venue, _venue_cells(venue)) for venue in view.venues])
        show(aggregate_line, _aggregate_text(view))

    # ------------------------------------------------------------------ actions

    def action_period(self, period: str) -> None:
        if period in PERIODS and period != self.period:
            self.period = period
            self.refresh_view(self.hi_app.store)
            self.hi_app.fetch_active()

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        super().apply_arguments(arguments)
        if arguments.get("period") in PERIODS:
            self.action_period(arguments["period"])


def _venue_cells(venue: Venue) -> tuple[Cell, ...]:
    ok = venue.status == "ok"
    status = Text(venue.status, style="green" if ok else "bold red")
    price_style = "dim" if venue.stale else ""  # a failed venue's last good price
    price = Text(usd(venue.price).removeprefix("$") if venue.price is not None else DASH)
    price.stylize(price_style)
    note = ""
    if venue.error:
        note = venue.error.split(": ", 1)[-1]
        if venue.price is not None:
            note = f"last good shown · {note}"
    elif venue.index_price_usd is not None:
        note = f"index {usd(venue.index_price_usd)}"
    seconds = local_age(venue.as_of)
    stale = seconds is not None and (venue.stale or seconds > PRICE_STALE_S)
    return (
        venue.venue,
        status,
        price,
        venue.quote or DASH,
        pct(venue.change_24h_pct),
        compact(venue.volume_24h_btc),
        compact(venue.volume_24h_quote),
        Text(age(seconds), style="bold red" if stale else "dim"),
        Text(note, style="red" if venue.error else "dim", overflow="ellipsis"),
    )


def _show_digits(digits: Digits, value: str) -> None:
    """Digits repaint (and may lay out) on every update: only when the price moved."""
    if digits.value != value:
        digits.update(value)


def _aggregate_text(view: ExchangesView) -> Text:
    agg = view.aggregate
    line = Text.assemble(("Aggregate ", "bold"))
    if agg.vwap_usd is None:
        line.append(f"— no venue answered ({agg.venues_ok}/{agg.venues_total})", style="yellow")
        return line
    line.append(f"VWAP {usd(agg.vwap_usd)}")
    if agg.spread_usd is not None and agg.spread_pct is not None:
        line.append(f" · spread {usd(agg.spread_usd)} ({agg.spread_pct:.3f}%)")
        line.append(f" {agg.low_venue}→{agg.high_venue}", style="dim")
    line.append(
        f" · vol {compact(agg.total_volume_btc)} BTC / {compact(agg.total_volume_usd, '$')}"
    )
    complete = f" · {agg.completeness_pct:.0f}% complete ({agg.venues_ok}/{agg.venues_total})"
    line.append(complete, style="green" if agg.completeness_pct >= 100 else "bold yellow")
    line.append(" · USDT at par", style="dim")
    return line
