"""Decisions and acknowledgements reach every other console pushed on the stream, not at its next
poll: a second console's connection worker (the console's own, with its messages captured) sees
a fleet command waiting, then approved or rejected, and an alert acknowledged or silenced, within
a second of the first console's call (asserted with a margin for a loaded machine)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from textual.message import Message

from backend.runtime import BackendThread
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_contract.fleet import AlertView
from hashinsight_tui.app import STREAM_CHANNELS
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.connection import connection_loop
from hashinsight_tui.messages import ConnectionChanged, StreamBatch
from hashinsight_tui.screens.alerts import AlertBoard
from hashinsight_tui.screens.approvals import merge_commands, pending_commands
from tests.helpers import eventually

PUSH_LIMIT_S = 3.0  # the target is 1 s; the margin is for a loaded 2-core machine
REFRESH_S = 30.0  # the other console's REST re-read never happens during a test: only pushes


@dataclass
class OtherConsole:
    """What a second console's connection worker delivers, with when each event arrived."""

    state: str = "connecting"
    board: AlertBoard = field(default_factory=AlertBoard)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrivals: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def post(self, message: Message) -> None:
        if isinstance(message, ConnectionChanged):
            self.state = message.state
        elif isinstance(message, StreamBatch):
            now = time.monotonic()
            self.board.apply_events(message.events)
            for event in message.events:
                self.arrivals.append((now, event.event, event.data))
                if event.event == "command.update":
                    self.commands[str(event.data["command_id"])] = event.data

    def pending(self) -> set[str]:
        return {p.ref for p in pending_commands(merge_commands([], self.commands.values()))}

    def first(self, after: float, check: Callable[[str, dict[str, Any]], bool]) -> float | None:
        found = (t for t, kind, data in self.arrivals if t >= after and check(kind, data))
        return next(found, None)


@dataclass
class World:
    thread: BackendThread
    fleet: FleetSimulator
    operator: str
    semi: str

    async def client(self, key: str) -> HashInsightClient:
        return HashInsightClient(self.thread.backend.url, key)


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    fleet = FleetSimulator(3, use_ports=True, families=["antminer"], restart_downtime_s=0.5)
    await fleet.start()
    thread = BackendThread(
        settings.model_copy(update={"fleet_poll_interval_s": 0.5, **fleet.settings_overrides()}),
        mode="serve",
    )
    await asyncio.to_thread(thread.start)
    backend = thread.backend
    _info, semi = thread.call(
        backend.auth.create_key(
            name="night shift", scopes=["read", "stream", "fleet:control"], mode="semi_auto"
        )
    )
    assert backend.operator_token is not None
    try:
        yield World(thread, fleet, backend.operator_token, semi)
    finally:
        await asyncio.to_thread(thread.stop)
        await fleet.stop()


@contextlib.asynccontextmanager
async def other_console(world: World) -> AsyncIterator[OtherConsole]:
    other = OtherConsole()
    client = HashInsightClient(world.thread.backend.url, world.operator)
    task = asyncio.create_task(connection_loop(client, other.post, REFRESH_S, STREAM_CHANNELS))
    try:
        await eventually(lambda: other.state == "connected", 30, what="second console subscribed")
        yield other
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


async def polled_miners(world: World) -> list[str]:
    async with HashInsightClient(world.thread.backend.url, world.operator) as client:

        async def ids() -> list[str]:
            page = await client.request("GET", "/api/v1/miners")
            return sorted(m["id"] for m in page["items"] if m.get("polled_at"))

        return await eventually(lambda: _len_ok(ids()), 30, what="miners polled")


async def _len_ok(ids: Any) -> list[str] | None:
    found = await ids
    return found if len(found) == 3 else None


async def request_restart(world: World, miner_id: str) -> str:
    async with HashInsightClient(world.thread.backend.url, world.semi) as semi:
        body = {"command": "restart"}
        answer = await semi.request("POST", f"/api/v1/miners/{miner_id}/commands", json=body)
    return str(answer["command_id"])


async def test_fleet_decisions_reach_the_other_console_pushed(world: World) -> None:
    miners = await polled_miners(world)
    async with other_console(world) as other:
        asked = time.monotonic()
        approve_id = await request_restart(world, miners[0])
        reject_id = await request_restart(world, miners[1])
        await eventually(lambda: {approve_id, reject_id} <= other.pending(), PUSH_LIMIT_S * 2)
        new_item = other.first(asked, lambda k, d: d.get("command_id") == reject_id)
        assert new_item is not None

        async with HashInsightClient(world.thread.backend.url, world.operator) as operator:
            started = time.monotonic()
            await operator.reject_command(reject_id, "not tonight")
            await eventually(lambda: reject_id not in other.pending(), PUSH_LIMIT_S)
            rejected = time.monotonic() - started

            started = time.monotonic()
            approving = asyncio.create_task(operator.approve_command(approve_id, "rack ok"))
            await eventually(lambda: approve_id not in other.pending(), PUSH_LIMIT_S)
            approved = time.monotonic() - started
            await approving
    print(f"pushed: new item, reject {rejected:.2f}s, approve {approved:.2f}s")


async def test_alert_acknowledgements_and_silences_reach_the_other_console(world: World) -> None:
    await polled_miners(world)
    hot = world.fleet.miners[2]
    hot_id = f"{hot.host}:{hot.port}"
    await hot.set_fault(Fault.OVERHEAT)
    async with other_console(world) as other:

        def overheat() -> AlertView | None:
            found = [
                a
                for a in other.board.open.values()
                if a.rule == "overheat" and a.miner_id == hot_id
            ]  # a simulated miner may run hot by itself too
            return found[0] if found else None

        alert = await eventually(overheat, 30, what="the overheat alert pushed")
        assert other.board.counts()[0] >= 1
        waiting = other.board.counts()[0]
        async with HashInsightClient(world.thread.backend.url, world.operator) as operator:
            started = time.monotonic()
            await operator.acknowledge_alert(int(alert.id))
            await eventually(
                lambda: other.board.open[int(alert.id)].state == "acknowledged",
                PUSH_LIMIT_S,
            )
            acked = time.monotonic() - started
            assert other.board.counts()[0] == waiting - 1

            started = time.monotonic()
            silenced = await operator.silence_alert(int(alert.id), 30, "fan swap at 9")
            assert silenced.silenced_by and silenced.silence_reason == "fan swap at 9"
            await eventually(
                lambda: other.board.open[int(alert.id)].silence_reason == "fan swap at 9",
                PUSH_LIMIT_S,
            )
            muted = time.monotonic() - started
    print(f"pushed: acknowledge {acked:.2f}s, silence {muted:.2f}s")
