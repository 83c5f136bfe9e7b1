"""The terminal line chart's time axis: both ends and the middle readable for every period."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from hashinsight_tui.widgets.chart import LineChart, time_label

DAY = 86_400.0


def test_a_one_day_axis_never_shows_the_same_time_at_both_ends() -> None:
    end = time.mktime((2026, 11, 24, 3, 40, 0, 0, 0, -1))
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
    end = time.mktime((2026, 11, 24, 12, 0, 0, 0, 0, -1))
    points = [(end - DAY + i * 3600, 90_000.0 + i * 10) for i in range(25)]
    app = ChartApp()
    async with app.run_test(size=(100, 12)) as pilot:
        chart = app.query_one(LineChart)
        chart.set_series(points, title="BTC 1d")
        await pilot.pause()
        axis = chart.render().plain.splitlines()[-1]
    assert "11-23 12:00" in axis and "11-24 00:00" in axis and axis.rstrip().endswith("11-24 12:00")
