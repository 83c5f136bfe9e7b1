"""Health tells how fresh each status is: `unknown` until a check ran, `stale` once checks stopped
coming, the last check's time shown; and the fleet's poller has its own row (last sweep, miners
answered, errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.health import HealthRegistry
from backend.runtime import BackendThread
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import Integration
from hashinsight_tui.screens.health import HealthScreen, shown_status
from hashinsight_tui.widgets.line_table import LineTable
from tests.helpers import wait_for


def test_a_status_is_unknown_until_checked_and_stale_once_checks_stop() -> None:
    clock = ManualClock()
    registry = HealthRegistry(EventBus(), clock)
    registry.register("rpc", "rpc", "node")
    item = Integration.model_validate(registry.get("rpc").out().model_dump())  # type: ignore[union-attr]
    assert shown_status(item, clock.time()) == "unknown" and item.last_check is None
    for _ in range(4):  # checked every 60 s
        registry.success("rpc", 5.0)
        clock.advance(60)
    item = Integration.model_validate(registry.get("rpc").out().model_dump())  # type: ignore[union-attr]
    assert item.stale_after_s == pytest.approx(180, rel=0.05)
    assert shown_status(item, item.last_check) == "ok"  # type: ignore[arg-type]
    clock.advance(8 * 60)  # no check for 8 minutes
    assert shown_status(item, clock.time()) == "stale"
    # An item registered with a status but never checked (an older backend's `ok never 0/0`).
    old = Integration.model_validate(
        {"name": "x", "kind": "k", "target": "t", "status": "ok", "checks": 0, "failures": 0}
        | dict.fromkeys(["latency_ms", "last_success", "last_error", "last_error_at", "detail"])
    )
    assert shown_status(old) == "unknown"


def test_each_fleet_sweep_is_the_pollers_health_row() -> None:
    bus = EventBus()
    registry = HealthRegistry(bus, ManualClock())
    sweep = {"miners": 10, "errors": 2, "duration_s": 0.8, "interval_s": 5.0, "started_at": 1.0}
    counts = {"total": 10, "online": 8, "offline": 1, "error": 1}
    bus.publish("miners", "fleet.sweep", {**counts, "sweep": sweep})
    row = registry.get("fleet-poller")
    assert row is not None and row.status == "ok" and row.kind == "poller"
    assert row.detail is not None and "8/10 miners answering" in row.detail
    assert "2 offline or in error" in row.detail
    assert row.out().stale_after_s == 30.0  # 3 intervals, at least 30 s
    # Half the fleet dark and backing off, so only the live half was due this sweep: the row
    # counts the whole fleet, not "5/5 answered".
    half = {"total": 10, "online": 5, "offline": 5, "error": 0}
    bus.publish("miners", "fleet.sweep", {**half, "sweep": {**sweep, "miners": 5, "errors": 0}})
    assert "5/10 miners answering" in (registry.get("fleet-poller").detail or "")  # type: ignore[union-attr]
    # Every miner dark, none due this sweep (all backing off): not "ok, 0/0".
    dark = {"total": 10, "online": 0, "offline": 10, "error": 0}
    bus.publish("miners", "fleet.sweep", {**dark, "sweep": {**sweep, "miners": 0, "errors": 0}})
    assert registry.get("fleet-poller").status == "degraded"  # type: ignore[union-attr]


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[BackendThread]:
    fleet = FleetSimulator(3, use_ports=True, families=["antminer"])
    await fleet.start()
    await fleet.miners[2].set_fault(Fault.OFFLINE)
    thread = BackendThread(
        settings.model_copy(update={"fleet_poll_interval_s": 0.5, **fleet.settings_overrides()}),
        mode="serve",
    )
    await asyncio.to_thread(thread.start)
    try:
        yield thread
    finally:
        await asyncio.to_thread(thread.stop)
        await fleet.stop()


async def test_the_health_screen_has_the_poller_row_and_check_times(
    backend: BackendThread,
) -> None:
    token = backend.backend.operator_token
    assert token is not None
    app = HashInsightApp(
        ConsoleOptions(url=backend.backend.url, api_key=token, refresh_s=0.5, start_screen="health")
    )
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_for(lambda: isinstance(app.screen, HealthScreen), pilot)
        table = app.screen.query_one(LineTable)

        def row(name: str) -> list[str] | None:
            cells = dict(table.rows).get(name)
            return None if cells is None else [str(c) for c in cells]

        await wait_for(lambda: row("fleet-poller") is not None, pilot, 30)
        await wait_for(
            lambda: "2/3 miners answering" in " ".join(row("fleet-poller") or []), pilot, 30
        )
        poller = row("fleet-poller")
        assert poller is not None and poller[2] == "ok" and poller[4].endswith("ago")
        database = row("database")
        assert database is not None and database[4].endswith("ago")
        app.paused = True
