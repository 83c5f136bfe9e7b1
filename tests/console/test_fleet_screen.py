"""The Fleet screen driven with the pilot against the demo world's simulated fleet.

One demo backend (`hashinsight demo --headless`, its own process: the pilot waits for the test
process to go idle after each key, which a backend polling 200 miners in the same process never
lets happen) serves the module; each test picks its own miners, so no test depends on another's
commands or on their order.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Button, Static

from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.screens.confirm import ConfirmScreen
from hashinsight_tui.screens.fleet import FleetScreen, PoolPickerScreen
from hashinsight_tui.screens.miner_detail import MinerDetailScreen
from hashinsight_tui.sdk import commands as sdk_commands
from hashinsight_tui.widgets.fleet_grid import FleetGrid
from hashinsight_tui.widgets.fleet_summary import FleetSummaryBar
from hashinsight_tui.widgets.fleet_table import FleetTable
from tests.helpers import isolated_env, wait_for

SIZE = (120, 36)
# Demo miners (by index) with injected trouble or read-only API access: see backend/sim/fleet_demo.
TROUBLED = {7, 13, 21, 34, 55, 89, 144}
READ_ONLY_MINER = 144
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Demo:
    url: str
    operator_key: str

    async def create_key(self, name: str, scopes: list[str], mode: str = "auto") -> str:
        async with HashInsightClient(self.url, self.operator_key) as client:
            body = {"name": name, "scopes": scopes, "mode": mode}
            return (await client.request("POST", "/api/v1/keys", json=body))["api_key"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp: Path = tmp_path_factory.mktemp("fleet-demo")
    env = (
        os.environ
        | isolated_env(tmp)
        | {
            "HASHINSIGHT_FLEET_POLL_INTERVAL_S": "1",
            "HASHINSIGHT_FLEET_CONNECT_TIMEOUT_S": "0.5",
            "HASHINSIGHT_FLEET_READ_TIMEOUT_S": "1",
            "HASHINSIGHT_FLEET_BACKOFF_MAX_S": "1",
        }
    )
    out, err = tmp / "demo.out", tmp / "demo.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "hashinsight_cli", "demo", "--headless"],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
    try:
        url = key = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while url is None or key is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"demo did not start: {err.read_text()[-2000:]}")
            time.sleep(0.2)
            for line in out.read_text().splitlines():
                if line.startswith("HashInsight API: "):
                    url = line.removeprefix("HashInsight API: ").strip()
                elif line.startswith("Operator key: "):
                    key = line.removeprefix("Operator key: ").strip()
        yield Demo(url, key)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def console(demo: Demo, key: str | None = None) -> HashInsightApp:
    return HashInsightApp(
        ConsoleOptions(
            url=demo.url, api_key=key or demo.operator_key, refresh_s=1.0, start_screen="fleet"
        )
    )


def fleet_screen(app: HashInsightApp) -> FleetScreen:
    screen = app.screen
    assert isinstance(screen, FleetScreen), type(screen)
    return screen


async def loaded(app: HashInsightApp, pilot: Any) -> FleetScreen:
    """Wait until every demo miner is in the table, polled at least once."""
    await wait_for(lambda: isinstance(app.screen, FleetScreen), pilot)
    screen = fleet_screen(app)
    await wait_for(
        lambda: (
            len(screen.model) == 200
            and all(m.get("polled_at") for m in screen.model.miners.values())
        ),
        pilot,
        within_s=30,
    )
    return screen


def demo_miner(screen: FleetScreen, index: int) -> str:
    """The id of demo miner `index` (rack of 20, positions 01-20, sites alternating)."""
    rack, position = divmod(index, 20)
    for miner_id, miner in screen.model.miners.items():
        if (
            miner.get("rack") == f"R{rack + 1:02d}"
            and miner.get("position") == f"{position + 1:02d}"
        ):
            return miner_id
    raise AssertionError(f"demo miner {index} not found")


async def settle(app: HashInsightApp, pilot: Any) -> None:
    """Stop fetching and let in-flight snapshot fetches land before the app closes (a fetch
    failing after the screens are gone would be reported to a screenless app)."""
    app.paused = True
    await wait_for(
        lambda: not any(w.group == "snapshots" and w.is_running for w in app.workers), pilot
    )


def plain(renderable: Any) -> str:
    """What a Static shows, as text (tables and groups included)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def confirm(app: HashInsightApp) -> None:
    """Press the confirmation's destructive button (Cancel has the focus)."""
    assert isinstance(app.screen, ConfirmScreen)
    app.screen.query_one("#confirm", Button).press()


def notifications(app: HashInsightApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def shown_actions(app: HashInsightApp) -> set[str]:
    return {
        active.binding.action
        for active in app.active_bindings.values()
        if active.enabled and active.binding.show
    }


async def go_to_miner(app: HashInsightApp, pilot: Any, miner_id: str) -> FleetScreen:
    """Filter the table down to one miner so the cursor sits on it."""
    screen = fleet_screen(app)
    screen.apply_filter(miner_id.split(":")[0] + ":")  # what `/` does with this text
    await wait_for(lambda: screen.model.order == [miner_id], pilot)
    table = screen.query_one(FleetTable)
    table.focus()
    await wait_for(lambda: table.cursor_id == miner_id, pilot)
    return screen


async def test_fleet_screen_shows_the_demo_fleet_at_80x24(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(app, pilot)
        summary = screen.query_one(FleetSummaryBar)
        await wait_for(lambda: "/200 online" in str(summary.render()), pilot)
        assert "TH/s" in str(summary.render()) or "PH/s" in str(summary.render())
        table = screen.query_one(FleetTable)
        assert table.region.height >= 10 and table.region.width == 80
        header = table.render_line(0).text
        assert "Status" in header and "Miner" in header and "TH/s" in header
        assert len(header) <= 80
        assert "200 miners" in str(screen.query_one("#fleet-note").render())
        # The miner the simulator keeps offline: no hashrate, shown as a dash, never a 0.
        offline = demo_miner(screen, 21)
        await wait_for(lambda: screen.model.miners[offline]["status"] == "offline", pilot)
        assert screen.model.miners[offline]["hashrate_ths"] is None
        await go_to_miner(app, pilot, offline)
        row = table.render_line(1).text
        assert "offline" in row and "—" in row and " 0.0 " not in row
        await settle(app, pilot)


async def test_sort_filter_and_arguments(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        model = screen.model
        await pilot.press("colon", *"fleet sort=hashrate_ths order=desc", "enter")  # typed once
        await wait_for(lambda: model.sort_key == "hashrate_ths" and model.sort_desc, pilot)
        rates = [model.miners[i]["hashrate_ths"] for i in model.order]
        known = [r for r in rates if r is not None]
        assert known == sorted(known, reverse=True)
        assert rates[len(known) :] == [None] * (len(rates) - len(known))  # missing last
        assert "▼TH/s" in screen.query_one(FleetTable).render_line(0).text

        await pilot.press("s")
        assert model.sort_key != "hashrate_ths" and not model.sort_desc
        await pilot.press("S")
        assert model.sort_desc
        # A header click (the widget's own test clicks it; live, the pilot posts what it sends).
        screen.query_one(FleetTable).post_message(FleetTable.HeaderClicked("temp_chip_max_c"))
        await wait_for(lambda: model.sort_key == "temp_chip_max_c", pilot)
        assert not model.sort_desc

        app.run_command("fleet status=offline site=B")  # what `:` runs; demo miner 21 is there
        await wait_for(lambda: model.filters == {"status": "offline", "site": "b"}, pilot)
        await wait_for(lambda: bool(model.order), pilot)
        expected = {
            i for i, m in model.miners.items() if m["status"] == "offline" and m["site"] == "Site B"
        }
        assert set(model.order) == expected and demo_miner(screen, 21) in expected
        assert "filter 'status=offline site=b'" in str(screen.query_one("#fleet-note").render())

        app.run_command("fleet model=whatsminer")
        await wait_for(lambda: model.filters == {"model": "whatsminer"}, pilot)
        # Models are known from the first sweep on (before it, every demo miner is offline with
        # no model; under load the console can get here first): the rows come with its readings.
        await wait_for(lambda: bool(model.order), pilot)
        assert len(model.order) < 200
        assert all("whatsminer" in model.miners[i]["model"].lower() for i in model.order)

        app.run_command("fleet")  # no arguments: the filter stays
        await pilot.pause(0.2)
        assert model.filters == {"model": "whatsminer"}
        await pilot.press("slash", *"zzz")
        await wait_for(lambda: model.order == [], pilot)
        await pilot.press("escape")  # closing the filter line clears its text, not `:` filters
        await wait_for(lambda: bool(model.order), pilot)
        assert all("whatsminer" in model.miners[i]["model"].lower() for i in model.order)
        app.run_command("fleet q=")  # new arguments replace the old ones
        await wait_for(lambda: len(model.order) == len(model.miners), pilot)
        await settle(app, pilot)


async def test_grid_view_follows_the_cursor_and_colours(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(app, pilot)
        await pilot.press("down", "down")
        chosen = screen.cursor_id
        await pilot.press("v")
        grid = screen.query_one(FleetGrid)
        await wait_for(lambda: grid.display and grid.lines != [], pilot)
        await wait_for(lambda: grid.cursor_id == chosen, pilot)
        first = grid.render_line(0).text
        assert first.startswith("Site A ·") and "online" in first
        assert all(len(grid.render_line(y).text) <= 80 for y in range(grid.size.height))
        await pilot.press("right")
        assert grid.cursor_id != chosen
        assert str(grid.cursor_id) in str(screen.query_one("#fleet-cursor").render())
        await pilot.press("t")
        assert grid.mode == "temperature"
        assert "°C" in str(screen.query_one("#fleet-note").render())
        await pilot.press("v")
        assert screen.query_one(FleetTable).cursor_id == grid.cursor_id
        await settle(app, pilot)


async def test_drill_down_shows_the_miner_and_escape_goes_back(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        miner_id = demo_miner(screen, 13)  # a board failure: fewer chips than expected
        await go_to_miner(app, pilot, miner_id)
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, MinerDetailScreen), pilot)
        detail = app.screen
        assert isinstance(detail, MinerDetailScreen)

        def text(selector: str) -> str:
            return plain(detail.query_one(selector, Static).content)

        await wait_for(lambda: "Board 0" in text("#miner-boards"), pilot, within_s=15)
        assert miner_id in text("#miner-title")
        assert "Hashrate 5s" in text("#miner-fields")
        assert "stratum+tcp://" in text("#miner-pools")
        await wait_for(lambda: "History 1h" in text("#miner-history-title"), pilot)
        await pilot.press("h")
        assert detail.period == "6h"
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, FleetScreen), pilot)
        await settle(app, pilot)


async def test_confirm_a_restart_and_see_the_miner_go_offline_and_back(
    demo: Demo,
) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        miner_id = demo_miner(screen, 3)
        assert 3 not in TROUBLED
        await wait_for(lambda: screen.model.miners[miner_id]["status"] == "online", pilot)
        await go_to_miner(app, pilot, miner_id)

        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # a stray enter cancels
        await wait_for(lambda: isinstance(app.screen, FleetScreen), pilot)
        await pilot.pause(0.3)
        assert not any("Restart" in n for n in notifications(app))

        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        assert miner_id in str(app.screen.query_one("Static").render())
        confirm(app)
        # succeeded once the read-back saw the reboot, accepted while it has not yet
        done = re.compile(r"Restart 1: 1 (succeeded|accepted)")
        await wait_for(lambda: any(done.search(n) for n in notifications(app)), pilot)
        row = screen.model.miners
        await wait_for(lambda: row[miner_id]["status"] == "offline", pilot, within_s=15)
        await wait_for(lambda: screen.model.miners[miner_id]["status"] == "online", pilot, 45)
        assert screen.model.miners[miner_id]["uptime_s"] is not None
        assert screen.model.miners[miner_id]["uptime_s"] < 60  # a fresh boot

        await pilot.press("L")  # the command log shows it, with the backend's state
        log = screen.query_one("#fleet-log")
        await wait_for(lambda: "restart" in str(log.render()), pilot)
        assert miner_id in str(log.render())
        assert re.search("succeeded|accepted", str(log.render()))
        await settle(app, pilot)


async def test_a_command_without_an_answer_in_time_is_not_called_failed(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart answers only once the miner was seen going down: a console that gives up
    waiting first must say the restart may have run (and then show what the backend
    recorded), never "failed", which would invite a second restart."""
    monkeypatch.setattr(sdk_commands, "COMMAND_TIMEOUT_S", 0.005)
    monkeypatch.setattr(sdk_commands, "RESEND_AFTER_S", ())  # every attempt would time out
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        miner_id = demo_miner(screen, 4)
        assert 4 not in TROUBLED
        await go_to_miner(app, pilot, miner_id)
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        confirm(app)
        await wait_for(lambda: any("Restart" in n for n in notifications(app)), pilot)
        message = next(n for n in notifications(app) if "Restart" in n)
        assert "no answer within 0.005s" in message and "may have run" in message
        assert "failed" not in message
        await pilot.press("L")
        log = screen.query_one("#fleet-log")
        await wait_for(lambda: "unknown" in str(log.render()), pilot)
        assert "failed" not in str(log.render())
        # the backend's own entry follows: it did run
        await wait_for(lambda: "succeeded" in str(log.render()), pilot, within_s=30)
        await settle(app, pilot)


async def test_bulk_action_reports_each_miner_and_a_refusal(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        refusing, normal = demo_miner(screen, READ_ONLY_MINER), demo_miner(screen, 5)
        for miner_id in (refusing, normal):
            screen.query_one(FleetTable).move_to(miner_id)
            await pilot.press("space")
        assert screen.model.selected == {refusing, normal}
        assert "2 selected" in str(screen.query_one("#fleet-note").render())
        await pilot.press("o")  # switch pool: asks which pool first
        await wait_for(lambda: isinstance(app.screen, PoolPickerScreen), pilot)
        await pilot.press("down", "enter")  # pool 1
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        assert "to pool 1" in str(app.screen.query_one("Static").render())
        confirm(app)
        await wait_for(lambda: any("Switch pool" in n for n in notifications(app)), pilot)
        message = next(n for n in notifications(app) if "Switch pool" in n)
        assert "1 refused" in message and "1 succeeded" in message
        assert refusing in message and "denied" in message.lower()
        await pilot.press("escape")
        assert screen.model.selected == set()
        await settle(app, pilot)


async def test_read_only_key_sees_no_actions(demo: Demo) -> None:
    key = await demo.create_key("viewer", ["read", "stream"])
    app = console(demo, key)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        assert app.read_only
        actions = shown_actions(app)
        assert "drill_down" in actions
        assert not actions & FleetScreen.WRITE_ACTIONS
        for action in FleetScreen.WRITE_ACTIONS:
            assert screen.check_action(action, ()) is False
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FleetScreen)  # no confirmation, nothing sent
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, MinerDetailScreen), pilot)
        assert not shown_actions(app) & MinerDetailScreen.WRITE_ACTIONS
        await settle(app, pilot)


async def test_semi_auto_key_sees_pending_approval(demo: Demo) -> None:
    key = await demo.create_key("night shift", ["read", "stream", "fleet:control"], "semi_auto")
    app = console(demo, key)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        miner_id = demo_miner(screen, 9)
        await go_to_miner(app, pilot, miner_id)
        await pilot.press("z")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        assert "approval" in str(app.screen.query_one("Static").render())
        confirm(app)
        await wait_for(lambda: any("pending approval" in n for n in notifications(app)), pilot)
        await pilot.press("L")
        log = screen.query_one("#fleet-log")
        await wait_for(lambda: "pending approval" in str(log.render()), pilot)
        assert screen.model.miners[miner_id]["status"] == "online"  # nothing ran
        await settle(app, pilot)


async def test_acknowledge_the_alerts_of_a_miner(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        miner_id = demo_miner(screen, 55)  # its hashrate dropped to 55 %: an alert is raised
        await wait_for(lambda: (screen.model.miners[miner_id]["open_alerts"] or 0) > 0, pilot, 20)
        await go_to_miner(app, pilot, miner_id)
        await pilot.press("k")
        await wait_for(lambda: any("Acknowledged" in n for n in notifications(app)), pilot)
        assert not any("Cannot" in n for n in notifications(app))
        async with HashInsightClient(demo.url, demo.operator_key) as client:
            raised = await client.alerts(state="raised", miner_id=miner_id)
            acknowledged = await client.alerts(state="acknowledged", miner_id=miner_id)
        assert raised.items == [] and acknowledged.items
        await settle(app, pilot)


async def test_every_row_follows_the_api_within_a_sweep_and_shows_its_age(demo: Demo) -> None:
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(app, pilot)
        model = screen.model
        async with HashInsightClient(demo.url, demo.operator_key) as client:
            page = await client.miners(fields="summary", limit=500)
        api = {m.id: m for m in page.items}
        online = [i for i, m in api.items() if m.status == "online"]
        # every row catches up with (or passes) what the API said, deadband or not
        await wait_for(
            lambda: all((model.polled_at(i) or 0) >= api[i].polled_at for i in online),
            pilot,
            within_s=30,
        )
        # and what a row shows for a sweep is that sweep's reading, not an older published one
        same = [i for i in online if model.miners[i].get("polled_at") == api[i].polled_at]
        for miner_id in same:  # (rounded to the thousandth in a `fleet.readings` row)
            shown, told = model.miners[miner_id]["hashrate_ths"], api[miner_id].hashrate_ths
            assert told is not None and abs(shown - told) < 0.001
        table = screen.query_one(FleetTable)
        assert "Age" in table.render_line(0).text
        assert not any(model.is_stale(i) for i in online)
        assert "polled" in str(screen.query_one("#fleet-cursor").render())
        summary = str(screen.query_one(FleetSummaryBar).render())
        assert "power" in summary
        figures = screen.query_one(FleetSummaryBar).summary or {}
        if figures.get("hashprice_usd_per_th_day") is not None:
            assert "/PH/day" in summary
        coverage = figures.get("coverage")
        assert coverage and f"{coverage['power_measured']}/{coverage['online']}" in summary
        await settle(app, pilot)


async def test_sort_by_any_column_both_ways_and_footer_hints_whole_at_80x24(demo: Demo) -> None:
    from textual.widgets import Footer

    from hashinsight_tui.screens.fleet import SORT_KEYS, SortPickerScreen

    app = console(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(app, pilot)
        model = screen.model
        seen = []
        for _ in SORT_KEYS:
            await pilot.press("s")
            seen.append(model.sort_key)
        assert sorted(seen) == sorted(SORT_KEYS)  # every column, each once
        await pilot.press("O")
        await wait_for(lambda: isinstance(app.screen, SortPickerScreen), pilot)
        options = app.screen.query_one("#sort-options")
        options.highlighted = options.get_option_index("id:1")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(lambda: (model.sort_key, model.sort_desc) == ("id", True), pilot)
        ips = [model.miners[i]["host"] for i in model.order]
        assert ips == sorted(ips, key=lambda ip: tuple(int(p) for p in ip.split(".")), reverse=True)
        footer = app.screen.query_one(Footer)
        await pilot.pause()
        keys = [w for w in footer.query("FooterKey") if w.display]
        assert keys, "no footer hints"
        assert all(w.region.right <= 80 for w in keys), [(str(w.render()), w.region) for w in keys]
        await settle(app, pilot)


async def test_an_action_the_firmware_cannot_do_is_not_offered(demo: Demo) -> None:
    async with HashInsightClient(demo.url, demo.operator_key) as client:
        page = await client.miners(fields="summary", limit=500)
        refusing = None
        for item in page.items:  # the demo mixes firmwares; some have no restart control yet
            detail = await client.miner(item.id)
            capability = (detail.capabilities or {}).get("restart")
            if capability is not None and capability.supported is False:
                refusing = item.id
                break
    assert refusing is not None, "the demo fleet should hold a miner whose firmware cannot restart"
    app = console(demo)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, pilot)
        await go_to_miner(app, pilot, refusing)
        await pilot.press("r")
        await wait_for(lambda: any("not available" in n for n in notifications(app)), pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, MinerDetailScreen), pilot)
        detail = app.screen
        await wait_for(
            lambda: "not on this firmware" in plain(detail.query_one("#miner-title").render()),
            pilot,
        )
        assert detail.check_action("restart", ()) is None  # greyed in the footer
        await pilot.press("escape")
        await settle(app, pilot)
