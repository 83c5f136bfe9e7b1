"""The Network screen driven with the pilot against a real backend (in its own thread, as the
console embeds it) whose providers are the loopback market and chain simulators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import Static

from backend.chain.service import ChainService
from backend.runtime import BackendThread
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.network import NetworkScreen
from hashinsight_tui.widgets.chart import LineChart
from hashinsight_tui.widgets.line_table import LineTable
from tests.helpers import wait_for
from tests.market.support import SimThread, console, console_backend

SIZE = (120, 36)


def options(thread: BackendThread) -> ConsoleOptions:
    token = thread.backend.operator_token
    assert token is not None
    return ConsoleOptions(
        url=thread.backend.url, api_key=token, refresh_s=1.0, start_screen="network"
    )


World = tuple[BackendThread, MarketSimulator, SimThread]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with console_backend(tmp_path) as parts:
        yield parts


def chain(thread: BackendThread) -> ChainService:
    service = thread.backend.services_by_name["chain"]
    assert isinstance(service, ChainService)
    return service


def text(app: HashInsightApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def block_heights(app: HashInsightApp) -> list[str]:
    table = app.screen.query_one("#network-blocks", LineTable)
    return [str(cells[0]) for _key, cells in table.rows]


async def api_stats(thread: BackendThread) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {thread.backend.operator_token}"}
    async with httpx.AsyncClient(base_url=thread.backend.url, trust_env=False) as http:
        response = await http.get("/api/v1/network/stats", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_stats_adjustment_hashprice_and_blocks(world: World) -> None:
    backend_thread = world[0]
    app = HashInsightApp(options(backend_thread))
    async with console(app, SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, NetworkScreen), pilot)
        await wait_for(lambda: "/TH/day" in text(app, "#network-hashprice"), pilot, 20)
        stats = await api_stats(backend_thread)
        summary = text(app, "#network-summary")
        assert f"{stats['hashrate_ehs']:,.1f} EH/s" in summary and "ago" in summary
        adjustment = text(app, "#network-adjustment")
        assert "Next adjustment" in adjustment and "blocks" in adjustment
        assert "mempool" in adjustment
        assert "144 blocks × (3.125 +" in text(app, "#network-hashprice")  # formula and inputs

        async def same_as_api() -> bool:
            latest = await api_stats(backend_thread)
            shown = f"${latest['hashprice_usd_per_th_day']:,.4f} /TH/day"
            return shown in text(app, "#network-hashprice")

        for _ in range(40):  # the price ticks: compare once both sides saw the same one
            if await same_as_api():
                break
            await pilot.pause(0.25)
        else:
            raise AssertionError("the screen never showed the API's hashprice")
        inputs = text(app, "#network-hashprice-inputs")
        assert "price coingecko" in inputs and "(15 blocks)" in inputs and "halvings" in inputs
        await wait_for(lambda: len(block_heights(app)) == 15, pilot, 15)
        chart = app.screen.query_one("#network-chart", LineChart)
        await wait_for(lambda: len(chart.points) == 30, pilot, 15)  # 1m of daily means
        await pilot.press("d")
        await wait_for(lambda: len(chart.points) == 3, pilot, 15)
        assert "3d" in str(chart.title)


async def test_new_block_appears_live(world: World) -> None:
    backend_thread, sim, sims = world
    app = HashInsightApp(options(backend_thread))
    async with console(app, SIZE) as pilot:
        await wait_for(lambda: len(block_heights(app)) == 15, pilot, 20)
        height = sims.call(sim.chain.mine_block).height
        backend_thread.call(chain(backend_thread).poll_blocks())
        await wait_for(lambda: block_heights(app)[0] == f"{height:,}", pilot)
        assert len(block_heights(app)) == 15


async def test_stale_network_stats_are_marked(world: World) -> None:
    backend_thread, sim, sims = world
    app = HashInsightApp(options(backend_thread))
    async with console(app, SIZE) as pilot:
        await wait_for(lambda: "EH/s" in text(app, "#network-summary"), pilot, 20)
        for name in ("blockchain_info", "mempool", "bitcoin_rpc"):
            sims.call(lambda name=name: sim.server(name).set_fault(Fault.HTTP_500))
        backend_thread.call(chain(backend_thread).poll_network())
        await wait_for(lambda: "STALE · cached from" in text(app, "#network-summary"), pilot)


async def test_usable_at_80x24(world: World) -> None:
    app = HashInsightApp(options(world[0]))
    async with console(app, (80, 24)) as pilot:
        await wait_for(lambda: "/TH/day" in text(app, "#network-hashprice"), pilot, 20)
        await wait_for(lambda: len(block_heights(app)) == 15, pilot, 15)
        await pilot.pause(0.2)
        screen = app.screen
        for selector in (
            "#network-summary",
            "#network-adjustment",
            "#network-hashprice",
            "#network-chart",
            "#network-blocks",
        ):
            region = screen.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24, selector
        assert screen.query_one("#network-chart").region.height >= 4
        assert screen.query_one("#network-blocks").region.height >= 4
