"""The fleet summary bar: online/total, TH/s vs expected, kW, J/TH, profit/day, open alerts.

Figures come from the backend's `/fleet/summary` (or its `fleet.sweep` event); whatever it does
not know is shown as "—" with the reason, never as a made-up 0. Power, J/TH and profit say how
many miners they cover (the backend's `coverage`): most stock firmware reports no power, and a
total over part of the fleet must never read as the whole fleet's. Nameplate estimates are
marked `est.`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static

from hashinsight_tui.format import DASH, age, ago
from hashinsight_tui.widgets.fleet_table import fmt_hashrate, fmt_usd
from hashinsight_tui.widgets.repaint import show

SEP = ("  │  ", "dim")
COMPACT_SEP = (" │ ", "dim")
# Narrower than this the bar is terser; narrower than NARROW_BELOW it leaves out the hashprice
# (a market figure the Network screen shows) and starts a line only between two figures, so at
# 80 columns every fleet total fits its three lines whole.
COMPACT_BELOW = 160
NARROW_BELOW = 100


def summary_text(
    summary: Mapping[str, Any] | None, now: float | None = None, *, width: int | None = None
) -> Text:
    """The bar's text; `width` (the bar's inner width) makes it fit, None: the full text."""
    if not summary:
        return Text("Fleet summary: waiting for the backend…", style="yellow")
    compact = width is not None and width < COMPACT_BELOW
    narrow = width is not None and width < NARROW_BELOW
    sep = COMPACT_SEP if compact else SEP
    parts: list[Text] = []
    total, online = summary.get("total"), summary.get("online")
    text = Text()
    text.append("● ", style="green" if online == total else "yellow")
    text.append(f"{_int(online)}/{_int(total)} online", style="bold")
    problems = [
        (summary.get(name), name, colour)
        for name, colour in (("offline", "red"), ("error", "magenta"), ("sleeping", "blue"))
    ]
    for count, name, colour in problems:
        if count:
            text.append(f" · {count} {name}", style=colour)
    stale = summary.get("stale")
    if stale:  # a sharded fleet whose collector stopped: these rows are as of its last sweep
        text.append(f" · {stale} not polled (no collector)", style="bold red")
    parts.append(text)
    text = Text()
    rate, expected = summary.get("hashrate_ths"), summary.get("hashrate_expected_ths")
    text.append(fmt_hashrate(rate), style="bold cyan")
    # What the online miners should do: an offline miner states no expected rate, so the
    # figure says whose it is rather than read as the whole fleet's.
    if expected and narrow and rate is not None:
        text.append(f" ({100 * rate / expected:.1f}% of online exp.)", style="dim")
    elif expected and compact and rate is not None:
        share = f" {100 * rate / expected:.1f}% of online's {fmt_hashrate(expected)}"
        text.append(share, style="dim")
    elif expected:
        pct = f" ({100 * rate / expected:.1f}%)" if rate is not None else ""
        text.append(f" of {fmt_hashrate(expected)} expected from online miners{pct}", style="dim")
    parts.append(text)
    text = Text()
    coverage = summary.get("coverage") or {}
    base = coverage.get("online")
    measured, estimated = coverage.get("power_measured"), coverage.get("power_estimated") or 0
    partial = base is not None and measured is not None and measured < base
    power = summary.get("power_kw")
    text.append(f"power {DASH if power is None else f'{power:,.1f}'} kW")
    if base is not None and measured is not None:
        text.append(f" {measured}/{base}", style="bold yellow" if partial else "dim")
    est_kw = summary.get("power_estimated_kw")
    if estimated and est_kw:
        text.append(f" +{est_kw:,.1f} kW est. {estimated}", style="yellow")
    eff = summary.get("efficiency_jth")
    text.append(f" · {DASH if eff is None else f'{eff:.1f}'} J/TH")
    if partial and eff is not None:
        text.append(f" {measured}/{base}", style="bold yellow")
    parts.append(text)
    text = Text()
    profit = summary.get("profit_usd_day")
    hashprice = summary.get("hashprice_usd_per_th_day")
    priced_at = summary.get("hashprice_as_of")
    price_age = age((now or time.time()) - priced_at) if priced_at is not None else None
    if profit is None:
        if hashprice is None and price_age is not None:
            why = f"hashprice {price_age} old, not used"
        else:
            why = "no hashprice" if hashprice is None else "no miner reports power"
        text.append(f"profit {DASH} ({why})", style="yellow" if price_age else "dim")
    else:
        text.append("profit ")
        text.append(f"{fmt_usd(profit)}/day", style="green" if profit >= 0 else "bold red")
        covered, earning = coverage.get("profit"), coverage.get("revenue")
        if covered is not None and earning is not None:
            short = covered < earning
            text.append(f" {covered}/{earning}", style="bold yellow" if short else "dim")
            if coverage.get("profit_estimated"):
                text.append(f" ({coverage['profit_estimated']} est.)", style="yellow")
    if hashprice is not None and not narrow:
        text.append(f" · ${hashprice * 1000:,.2f}/PH/day", style="dim")
    if hashprice is not None and summary.get("hashprice_stale"):
        # priced at a hashprice whose inputs stopped updating: say so, with how old it is
        mark = "STALE" if narrow else f"STALE hashprice {price_age or ''}".rstrip()
        text.append(f" · {mark}", style="bold red")
    parts.append(text)
    text = Text()
    alerts = summary.get("open_alerts")
    if alerts:
        text.append(f"⚠ {alerts} open alerts", style="bold yellow")
    else:
        text.append(f"{_int(alerts)} open alerts", style="dim")
    sweep = summary.get("sweep") or {}
    started, duration = sweep.get("started_at"), sweep.get("duration_s")
    if started is not None:
        polled = ago((now or time.time()) - started)
        took = DASH if duration is None else f"{duration:.1f}s"
        parts.append(text)
        text = Text()
        # terser where the bar is short of room: the age matters more than the duration
        text.append(f"swept {polled}" if compact else f"sweep {took}, {polled}", style="dim")
    parts.append(text)
    return _join(parts, sep, width if narrow else None)


def _join(parts: list[Text], sep: tuple[str, str], width: int | None) -> Text:
    """The figures with `sep` between them; with a `width`, a line breaks only between two."""
    out = Text()
    used = 0
    for index, part in enumerate(parts):
        if index:
            if width is not None and used + len(sep[0]) + part.cell_len > width:
                out.append("\n")
                used = 0
            else:
                out.append(*sep)
                used += len(sep[0])
        out.append_text(part)
        used += part.cell_len
    return out


def _int(value: Any) -> str:
    return DASH if value is None else f"{value:,}"


class FleetSummaryBar(Static):
    DEFAULT_CSS = """
    FleetSummaryBar {
        height: auto;
        max-height: 3;  /* every total whole at 80 columns */
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.summary: Mapping[str, Any] | None = None
        self._width = 0

    def show(self, summary: Mapping[str, Any] | None, now: float | None = None) -> None:
        self.summary = summary
        self._width = self.app.size.width - 2  # the padding either side
        show(self, summary_text(summary, now, width=self._width))

    def on_resize(self) -> None:
        if self._width != self.app.size.width - 2:
            self.show(self.summary)
