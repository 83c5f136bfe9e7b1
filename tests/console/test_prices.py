"""The Prices screen driven with the pilot against a real backend (in its own thread, as the
console embeds it) whose providers are the loopback market simulators."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import Digits, Static

from backend.market.service import MarketService
from backend.runtime import BackendThread
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.prices import PricesScreen
from hashinsight_tui.widgets.chart import LineChart, braille_plot, columns
from hashinsight_tui.widgets.line_table import LineTable
from hashinsight_tui.widgets.sourced import provenance
from tests.helpers import wait_for
from tests.market.support import SimThread, console, console_backend

SIZE = (120, 36)


def options(thread: BackendThread) -> ConsoleOptions:
    token = thread.backend.operator_token
    assert token is not None
    return ConsoleOptions(
        url=thread.backend.url, api_key=token, refresh_s=1.0, start_screen="prices"
    )


World = tuple[BackendThread, MarketSimulator, SimThread]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with console_backend(tmp_path) as parts:
        yield parts


def fault(world: World, provider: str, kind: Fault) -> None:
    _thread, sim, sims = world
    sims.call(lambda: sim.server(provider).set_fault(kind))


def market(thread: BackendThread) -> MarketService:
    service = thread.backend.services_by_name["market"]
    assert isinstance(service, MarketService)
    return service


def text(app: HashInsightApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def venue_rows(app: HashInsightApp) -> dict[str, list[str]]:
    table = app.screen.query_one("#prices-venues", LineTable)
    rows = [[str(c) for c in cells] for _key, cells in table.rows]
    return {row[0]: row for row in rows}


async def test_live_price_with_source_chart_and_exchanges(world: World) -> None:
    backend_thread = world[0]
    app = HashInsightApp(options(backend_thread))
    async with console(app, SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, PricesScreen), pilot)
        await wait_for(lambda: "coingecko" in text(app, "#prices-source"), pilot, 15)
        digits = app.screen.query_one("#prices-digits", Digits)
        shown = float(digits.value.replace(",", ""))
        headers = {"Authorization": f"Bearer {backend_thread.backend.operator_token}"}
        async with httpx.AsyncClient(base_url=backend_thread.backend.url, trust_env=False) as http:
            api = (await http.get("/api/v1/prices/current", headers=headers)).json()
        assert shown == pytest.approx(api["price_usd"], rel=0.02)
        assert "24h" in text(app, "#prices-change") and "ago" in text(app, "#prices-source")
        await wait_for(lambda: len(venue_rows(app)) == 4, pilot, 15)
        rows = venue_rows(app)
        assert {row[1] for row in rows.values()} == {"ok"}
        assert rows["deribit"][3] == "USD" and rows["okx"][3] == "USDT"
        await wait_for(lambda: "100% complete (4/4)" in text(app, "#prices-aggregate"), pilot)
        chart = app.screen.query_one("#prices-chart", LineChart)
        await wait_for(lambda: len(chart.points) == 289, pilot, 15)  # 1d: 5-minute points
        await pilot.press("w")
        await wait_for(lambda: len(chart.points) == 169, pilot, 15)  # 7d: hourly
        assert "7d" in str(chart.title) and "coingecko" in str(chart.title)


async def test_fallback_stale_price_and_failed_venue_are_shown(world: World) -> None:
    backend_thread = world[0]
    app = HashInsightApp(options(backend_thread))
    async with console(app, SIZE) as pilot:
        await wait_for(lambda: "coingecko" in text(app, "#prices-source"), pilot, 15)
        fault(world, "coingecko", Fault.HTTP_500)
        backend_thread.call(market(backend_thread).poll_price())
        await wait_for(lambda: "blockchain_info" in text(app, "#prices-source"), pilot)
        assert "coingecko failed (HTTP 500)" in text(app, "#prices-fallback")
        assert "not given by blockchain_info" in text(app, "#prices-change")  # no 0 % made up
        fault(world, "blockchain_info", Fault.HTTP_500)
        fault(world, "mempool", Fault.HTTP_500)
        backend_thread.call(market(backend_thread).poll_price())
        await wait_for(
            lambda: "STALE · cached from blockchain_info" in text(app, "#prices-source"), pilot
        )
        assert "+2 more" in text(app, "#prices-fallback")

        fault(world, "okx", Fault.HTTP_500)
        backend_thread.call(market(backend_thread).poll_exchanges())
        await wait_for(lambda: venue_rows(app).get("okx", ["", ""])[1] == "error", pilot)
        assert "last good shown" in venue_rows(app)["okx"][-1]
        assert "75% complete (3/4)" in text(app, "#prices-aggregate")


async def test_usable_at_80x24(world: World) -> None:
    app = HashInsightApp(options(world[0]))
    async with console(app, (80, 24)) as pilot:
        await wait_for(lambda: "coingecko" in text(app, "#prices-source"), pilot, 15)
        await wait_for(lambda: len(venue_rows(app)) == 4, pilot, 15)
        await pilot.pause(0.2)
        screen = app.screen
        for selector in ("#prices-digits", "#prices-source", "#prices-chart", "#prices-aggregate"):
            region = screen.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24, selector
        table = screen.query_one("#prices-venues", LineTable)
        assert table.region.height >= 5  # header and the four venues
        assert screen.query_one("#prices-chart").region.height >= 4


def test_chart_places_points_by_time_and_keeps_real_gaps() -> None:
    hourly = [(3600.0 * i, float(i)) for i in range(10)]
    assert columns(hourly, 10) == [float(i) for i in range(10)]
    sparse = columns([(0.0, 0.0), (10.0, 10.0)], 11)
    assert sparse[0] == 0.0 and sparse[-1] == 10.0 and sparse[5] == pytest.approx(5.0)
    gap = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (20.0, 1.0)]
    values = columns(gap, 21)
    assert values[10] is None  # 17 s between samples 1 s apart: missing data, not a line
    lines = braille_plot([0.0, None, 1.0], 2, 1, 0.0, 1.0)
    assert len(lines) == 1 and lines[0][0] != " "


def test_provenance_never_shows_an_old_or_cached_value_as_fresh() -> None:
    now = time.time()
    assert provenance("coingecko", now - 4, False).plain == "coingecko · 4s ago"
    assert provenance("mempool", now - 120, True, "cache").plain.startswith(
        "STALE · cached from mempool"
    )
    old = provenance("coingecko", now - 600, False, "live", stale_after_s=180)
    assert old.plain.startswith("STALE · coingecko") and "10m ago" in old.plain
    assert provenance(None, None, False).plain == "—"
