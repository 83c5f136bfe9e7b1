"""The terminal charts: the line chart's time axis readable for every period, and what a chart
handed the same series again (each clock tick) repaints."""

from __future__ import annotations

import calendar
import time
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

from hashinsight_tui.widgets.chart import LineChart, time_label
from hashinsight_tui.widgets.sparkline import Sparkline

DAY = 86_400.0


def test_a_one_day_axis_never_shows_the_same_time_at_both_ends() -> None:
    end = calendar.timegm((2026, 11, 24, 3, 40, 0))  # labels are UTC
    start = end - DAY
    assert time_label(start, DAY) != time_label(end, DAY)
    assert time_label(end, DAY) == "11-24 03:40"
    assert time_label(end, 3600) == "03:40"
    assert time_label(end, 30 * DAY) == "11-24"
    assert time_label(end, 3 * 365 * DAY) == "2026-11"


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineChart(unit="$", id="chart")


async def test_the_axis_line_carries_start_middle_and_end() -> None:
    end = calendar.timegm((2026, 11, 24, 12, 0, 0))  # the axis is in UTC
    points = [(end - DAY + i * 3600, 90_000.0 + i * 10) for i in range(25)]
    app = ChartApp()
    async with app.run_test(size=(100, 12)) as pilot:
        chart = app.query_one(LineChart)
        chart.set_series(points, title="BTC 1d")
        await pilot.pause()
        axis = chart.render().plain.splitlines()[-1]
    assert (
        "11-23 12:00" in axis
        and "11-24 00:00" in axis
        and axis.rstrip().endswith("11-24 12:00 UTC")
    )


def watch_refresh(widget: Widget) -> list[tuple[Region, ...]]:
    """The regions of each `refresh` of `widget` from now on (none given: all of it)."""
    calls: list[tuple[Region, ...]] = []
    real_refresh = widget.refresh

    def refresh(*regions: Region, **kw: Any) -> Widget:
        calls.append(regions)
        return real_refresh(*regions, **kw)

    widget.refresh = refresh  # type: ignore[method-assign]
    return calls


async def test_the_same_points_repaint_nothing_and_a_new_age_only_the_title() -> None:
    end = time.mktime((2026, 11, 24, 12, 0, 0, 0, 0, -1))
    points = [(end - DAY + i * 3600, 90_000.0 + i * 10) for i in range(25)]
    app = ChartApp()
    async with app.run_test(size=(100, 12)) as pilot:
        chart = app.query_one(LineChart)
        chart.set_series(points, title=Text("BTC 1d  coingecko · 4s ago"))
        await pilot.pause()
        before = chart.render().plain.splitlines()
        drawn = [chart.render_line(y) for y in range(chart.size.height)]
        assert [strip.text.rstrip() for strip in drawn] == [line.rstrip() for line in before]
        repainted = watch_refresh(chart)
        chart.set_series(list(points), title=Text("BTC 1d  coingecko · 4s ago"))
        assert repainted == []
        chart.set_series(list(points), title=Text("BTC 1d  coingecko · 5s ago"))
        assert repainted == [(Region(0, 0, chart.size.width, 1),)]
        await pilot.pause()
        after = chart.render().plain.splitlines()
        assert after[0].startswith("BTC 1d  coingecko · 5s ago")
        assert after[1:] == before[1:]  # the plot and its axes as they were
        assert chart.render_line(0).text.startswith("BTC 1d  coingecko · 5s ago")
        assert all(chart.render_line(y) is drawn[y] for y in range(1, len(drawn)))  # not redone
        chart.set_series([*points, (end + 3600, 80_000.0)], title="BTC 1d")
        assert repainted[-1] == ()  # a new point: everything
        await pilot.pause()
        assert chart.render().plain.splitlines()[1:] != before[1:]


class SparkApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Sparkline("TH/s", id="spark")


async def test_a_sparkline_given_the_same_series_repaints_nothing() -> None:
    app = SparkApp()
    async with app.run_test(size=(60, 8)) as pilot:
        spark = app.query_one(Sparkline)
        spark.set_series([100.0, None, 110.0], times=[1.0, 2.0, 3.0], span=(0.0, 4.0))
        await pilot.pause()
        repainted = watch_refresh(spark)
        spark.set_series([100.0, None, 110.0], times=[1.0, 2.0, 3.0], span=(0.0, 4.0))
        assert repainted == []
        spark.set_series([100.0, None, 120.0], times=[1.0, 2.0, 3.0], span=(0.0, 4.0))
        assert repainted == [()]
        await pilot.pause()
        assert "now 120.0" in str(spark.render())
