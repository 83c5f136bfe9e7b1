"""A small history chart: braille dots (2x4 per cell) or block bars, with gaps for missing data.

Missing points stay blank rather than being drawn as zero, so an offline hour looks like a hole,
not like a miner that hashed nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
BRAILLE_BASE = 0x2800
# Dot bits of a braille cell, by (column, row from the top).
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))

Series = Sequence[float | None]


def resample(values: Series, points: int) -> list[float | None]:
    """Average `values` into `points` buckets; a bucket with no data stays None."""
    if points <= 0:
        return []
    n = len(values)
    if n == 0:
        return [None] * points
    if n <= points:
        return list(values)
    out: list[float | None] = []
    for i in range(points):
        lo, hi = i * n // points, max(i * n // points + 1, (i + 1) * n // points)
        bucket = [v for v in values[lo:hi] if v is not None and math.isfinite(v)]
        out.append(sum(bucket) / len(bucket) if bucket else None)
    return out


def bucket_by_time(
    times: Sequence[float], values: Series, start: float, end: float, buckets: int
) -> list[float | None]:
    """Average the values falling in each of `buckets` equal slices of [start, end]: a period
    with few samples shows them where they happened, and blanks where there were none."""
    if buckets <= 0 or end <= start:
        return []
    sums = [0.0] * buckets
    counts = [0] * buckets
    width = (end - start) / buckets
    for ts, value in zip(times, values, strict=False):
        if value is None or not math.isfinite(value) or not start <= ts <= end:
            continue
        slot = min(buckets - 1, int((ts - start) / width))
        sums[slot] += value
        counts[slot] += 1
    return [sums[i] / counts[i] if counts[i] else None for i in range(buckets)]


def value_range(values: Series) -> tuple[float, float] | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return None
    lo, hi = min(known), max(known)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def block_line(values: Series, width: int, bounds: tuple[float, float] | None = None) -> str:
    """One line of block bars, one value per cell; blanks where data is missing."""
    points = resample(values, width)
    bounds = bounds or value_range(points)
    if bounds is None:
        return " " * width
    lo, hi = bounds
    chars = []
    for v in points:
        if v is None:
            chars.append(" ")
        else:
            level = 1 + round((min(max(v, lo), hi) - lo) / (hi - lo) * (len(BLOCKS) - 2))
            chars.append(BLOCKS[level])
    return "".join(chars).ljust(width)


def braille_lines(
    values: Series, width: int, height: int, bounds: tuple[float, float] | None = None
) -> list[str]:
    """`height` lines of braille, two points per cell, filled from the bottom up to each value."""
    width, height = max(1, width), max(1, height)
    points = resample(values, width * 2)
    bounds = bounds or value_range(points)
    grid = [[0] * width for _ in range(height)]
    if bounds is not None:
        lo, hi = bounds
        levels = height * 4
        for i, v in enumerate(points):
            if v is None:
                continue
            level = 1 + round((min(max(v, lo), hi) - lo) / (hi - lo) * (levels - 1))
            column, half = divmod(i, 2)
            for dot in range(level):  # dot 0 is the bottom row of the bottom line
                line = height - 1 - dot // 4
                grid[line][column] |= _DOTS[half][3 - dot % 4]
    return ["".join(chr(BRAILLE_BASE + cell) for cell in row) for row in grid]


class Sparkline(Widget):
    """A titled chart of one series; `set_series` replaces the data and repaints."""

    DEFAULT_CSS = """
    Sparkline {
        height: 4;
        width: 1fr;
    }
    """

    def __init__(
        self,
        title: str = "",
        *,
        unit: str = "",
        style: str = "cyan",
        mode: str = "braille",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self.chart_style = style
        self.mode = mode
        self.values: list[float | None] = []
        self.times: list[float] | None = None
        self.span: tuple[float, float] | None = None
        self.note = ""

    def set_series(
        self,
        values: Series,
        note: str = "",
        *,
        times: Sequence[float] | None = None,
        span: tuple[float, float] | None = None,
    ) -> None:
        """Values, optionally with their timestamps and the time span the chart covers; the
        same series again (a screen redrawn by the clock) repaints nothing."""
        series = (list(values), list(times) if times is not None else None, span, note)
        if series == (self.values, self.times, self.span, self.note):
            return
        self.values, self.times, self.span, self.note = series
        self.refresh()

    def _points(self, count: int) -> list[float | None]:
        if self.times is not None and self.span is not None:
            return bucket_by_time(self.times, self.values, self.span[0], self.span[1], count)
        return resample(self.values, count)

    def render(self) -> Text:
        width = max(1, self.size.width)
        height = max(1, self.size.height)
        bounds = value_range(self.values)
        known = [v for v in self.values if v is not None]
        if bounds is None:
            why = self.note or "no data for this period"
            return Text.assemble((self.title, "bold"), "  ", (f"— {why}", "dim"))
        last = known[-1]
        head = Text.assemble(
            (self.title, "bold"),
            "  ",
            (f"now {last:,.1f}{self.unit}", self.chart_style),
            (f"  min {min(known):,.1f}  max {max(known):,.1f}", "dim"),
        )
        if self.note:
            head.append(f"  {self.note}", style="dim")
        head.truncate(width)
        rows = height - 1
        if rows <= 0:
            return head
        lo, hi = min(known), max(known)
        chart_bounds = (lo - (hi - lo) * 0.05, hi) if hi > lo else bounds
        if self.mode == "block" or rows == 1:
            body = [block_line(self._points(width), width, chart_bounds)]
        else:
            body = braille_lines(self._points(width * 2), width, rows, chart_bounds)
        text = head
        for line in body:
            text.append("\n")
            text.append(line, style=self.chart_style)
        return text
