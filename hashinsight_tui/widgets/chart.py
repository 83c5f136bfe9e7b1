"""A time-series line chart drawn with braille dots (2×4 dots per cell), with value and time axes.

Points are placed by their time, not their index, so a gap in the data is a gap on the chart; an
empty series shows why there is nothing instead of a flat line at zero.

Screens hand the chart its series on every clock tick; the same points repaint nothing, and a
new title alone (its age moved on) repaints the title line and reuses the plotted lines.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from hashinsight_tui.widgets.repaint import same

BRAILLE_BASE = 0x2800
# dot bit of a braille cell by (column 0/1, row 0..3 from the top)
DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
Point = tuple[float, float]  # (epoch seconds, value)


def columns(points: Sequence[Point], slots: int) -> list[float | None]:
    """The value of each of `slots` equal time slots: the last point falling in it, or a straight
    line between neighbouring points when the series is sparser than the slots. A gap more than
    three times the usual spacing is missing data and stays empty."""
    if not points or slots <= 0:
        return [None] * max(0, slots)
    start, end = points[0][0], points[-1][0]
    span = end - start
    result: list[float | None] = [None] * slots
    placed: list[tuple[int, float, float]] = []  # (slot, time, value)
    for t, value in points:
        index = slots - 1 if span <= 0 else min(slots - 1, int((t - start) / span * slots))
        result[index] = value
        if placed and placed[-1][0] == index:
            placed[-1] = (index, t, value)
        else:
            placed.append((index, t, value))
    gaps = sorted(b[1] - a[1] for a, b in itertools.pairwise(placed))
    usual = gaps[len(gaps) // 2] if gaps else 0.0
    for (i0, t0, v0), (i1, t1, v1) in itertools.pairwise(placed):
        if i1 - i0 < 2 or (usual > 0 and t1 - t0 > 3 * usual):
            continue
        for i in range(i0 + 1, i1):
            result[i] = v0 + (v1 - v0) * (i - i0) / (i1 - i0)
    return result


def braille_plot(
    values: Sequence[float | None], width: int, height: int, lo: float, hi: float
) -> list[str]:
    """`height` text lines; consecutive known values are joined by vertical runs of dots."""
    rows = height * 4
    grid = [[0] * width for _ in range(height)]
    previous: int | None = None
    scale = (rows - 1) / (hi - lo) if hi > lo else 0.0
    for x, value in enumerate(values[: width * 2]):
        if value is None:
            previous = None
            continue
        level = round((min(max(value, lo), hi) - lo) * scale) if scale else rows // 2
        low, high = (level, level) if previous is None else sorted((previous, level))
        for dot in range(low, high + 1):  # dot 0 is the bottom row
            line = height - 1 - dot // 4
            grid[line][x // 2] |= DOTS[x % 2][3 - dot % 4]
        previous = level
    return ["".join(chr(BRAILLE_BASE + cell) if cell else " " for cell in row) for row in grid]


def axis_label(value: float, unit: str) -> str:
    if abs(value) >= 100_000:
        return f"{value:,.0f}{unit}"
    if abs(value) >= 100:
        return f"{value:,.1f}{unit}"
    return f"{value:,.3g}{unit}"


def time_label(t: float, span_s: float) -> str:
    """Precise enough that the two ends of the axis never read the same (a 1-day chart
    starts and ends at the same clock time)."""
    if span_s < 20 * 3600:
        fmt = "%H:%M"
    elif span_s <= 3 * 86_400:
        fmt = "%m-%d %H:%M"
    elif span_s <= 400 * 86_400:
        fmt = "%m-%d"
    else:
        fmt = "%Y-%m"
    return time.strftime(fmt, time.gmtime(t))


class LineChart(Widget):
    """`set_series(points, title=..., note=...)`; `note` explains an empty chart."""

    DEFAULT_CSS = """
    LineChart {
        height: 1fr;
        min-height: 4;
        width: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, *, unit: str = "", style: str = "cyan", id: str | None = None) -> None:
        super().__init__(id=id)
        self.unit = unit
        self.chart_style = style
        self.points: list[Point] = []
        self.title: Text | str = ""
        self.note = "waiting for data"
        # The lines under the title as drawn, for the size and look they were drawn at: kept
        # until the points change.
        self._plot: tuple[tuple[object, ...], list[Strip]] | None = None

    def set_series(
        self, points: Sequence[Point], *, title: Text | str = "", note: str = ""
    ) -> None:
        points = sorted(points)
        if points != self.points or note != self.note:
            self.points, self.title, self.note = points, title, note
            self._plot = None
            self.refresh()
        elif not same(self.title, title):
            self.title = title
            self.refresh(Region(0, 0, self.size.width, 1))

    def render(self) -> Text:
        width = max(1, self.size.width)
        height = max(1, self.size.height)
        head = self._head(width)
        plot = self._plot_text(width, height, head.style) if self.points else None
        if plot is not None:
            head.append("\n")
            head.append_text(plot)
        return head

    def render_line(self, y: int) -> Strip:
        """The title line formatted afresh, the plot under it only when its points or size
        changed (the same lines `render` gives)."""
        if self.text_selection is not None:  # selected text is marked over the whole render
            return super().render_line(y)
        width = max(1, self.size.width)
        height = max(1, self.size.height)
        style = self.visual_style
        head = self._head(width)
        if y == 0:
            return self._strips(head, width, 1)[0]
        key = (width, height, style, head.style)
        if self._plot is None or self._plot[0] != key:
            plot = self._plot_text(width, height, head.style) if self.points else None
            self._plot = (key, [] if plot is None else self._strips(plot, width, height - 1))
        strips = self._plot[1]
        return strips[y - 1] if y <= len(strips) else Strip.blank(width, style.rich_style)

    def _strips(self, text: Text, width: int, height: int) -> list[Strip]:
        strips = Visual.to_strips(self, visualize(self, text), width, height, self.visual_style)
        return strips or [Strip.blank(width, self.visual_style.rich_style)]

    def _head(self, width: int) -> Text:
        """The title line; with no points, why there are none."""
        head = self.title.copy() if isinstance(self.title, Text) else Text(self.title, style="bold")
        if not self.points:
            head.append(f"  — {self.note or 'no data'}", style="dim")
        head.truncate(width)
        return head

    def _plot_text(self, width: int, height: int, base: str | Style) -> Text | None:
        """The value axis, the dots and the time axis under the title, in the title's base
        style (None: no room for them)."""
        rows = height - 2  # title line, time axis line
        values = [v for _t, v in self.points]
        lo, hi = min(values), max(values)
        labels = [axis_label(hi, self.unit), axis_label(lo, self.unit)]
        label_width = max(len(label) for label in labels) + 1
        plot_width = width - label_width
        if rows < 1 or plot_width < 4:
            return None
        lines = braille_plot(columns(self.points, plot_width * 2), plot_width, rows, lo, hi)
        text = Text(style=base)
        for index, line in enumerate(lines):
            label = ""
            if index == 0:
                label = labels[0]
            elif index == rows - 1:
                label = labels[1]
            elif index == rows // 2 and rows >= 5:
                label = axis_label((lo + hi) / 2, self.unit)
            if index:
                text.append("\n")
            text.append(label.rjust(label_width - 1) + "┤", style="dim")
            text.append(line, style=self.chart_style)
        start, end = self.points[0][0], self.points[-1][0]
        span = end - start
        left, right = time_label(start, span), time_label(end, span) + " UTC"
        middle = time_label(start + span / 2, span)
        axis = left + " " * max(1, plot_width - len(left) - len(right)) + right
        if plot_width >= len(left) + len(middle) + len(right) + 6:
            at = (plot_width - len(middle)) // 2
            axis = axis[:at] + middle + axis[at + len(middle) :]
        text.append("\n" + " " * label_width + axis, style="dim")
        return text
