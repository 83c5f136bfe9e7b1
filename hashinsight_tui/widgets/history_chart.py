"""The history chart of the Prices and Network screens, with its one-line header: what and over
which period, the keys that change the period, then where the points came from and how old they
are (STALE in red when cached or too old). No points: the reason instead, never a flat line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.text import Text

from hashinsight_tui.widgets.chart import LineChart, Point
from hashinsight_tui.widgets.sourced import provenance

LOADING = "loading history…"


class SourcedHistory(Protocol):
    """Where a history came from (`PriceHistory`, `HashrateHistory`): the chart's header."""

    @property
    def source(self) -> str: ...
    @property
    def as_of(self) -> float: ...
    @property
    def stale(self) -> bool: ...
    @property
    def via(self) -> str: ...


class HistoryChart(LineChart):
    """`show(period, history, points, error)`; `keys` is the hint for the period keys, `remark`
    a dim word after the provenance (e.g. how the points were made)."""

    def __init__(
        self,
        *,
        label: str,
        keys: str,
        remark: str = "",
        unit: str = "",
        style: str = "cyan",
        id: str | None = None,
    ) -> None:
        super().__init__(unit=unit, style=style, id=id)
        self.label = label
        self.keys = keys
        self.remark = remark

    def show(
        self,
        period: str,
        history: SourcedHistory | None,
        points: Sequence[Point],
        error: str | None,
    ) -> None:
        title = Text.assemble((f"{self.label} {period}", "bold"), (f"  {self.keys}", "dim"))
        if history is None or not points:
            self.set_series([], title=title, note=error or LOADING)
            return
        title.append("  ")
        title.append_text(provenance(history.source, history.as_of, history.stale, history.via))
        if self.remark:
            title.append(f" {self.remark}", style="dim")
        self.set_series(points, title=title)
