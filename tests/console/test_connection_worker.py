"""The connection worker says "connected" only once the stream is subscribed: the screens load
their REST snapshots on that word, so an event published right after it must reach the console
(before, "connected" came before the WebSocket opened and such an event was lost, which left
fleet rows without their model until the next full reload)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from textual.message import Message

from backend.runtime import BackendThread
from backend.settings import Settings
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.connection import connection_loop
from hashinsight_tui.messages import ConnectionChanged, StreamBatch
from tests.helpers import eventually


@pytest.fixture
async def thread(settings: Settings) -> AsyncIterator[BackendThread]:
    thread = BackendThread(settings, mode="serve")
    await asyncio.to_thread(thread.start)
    try:
        yield thread
    finally:
        await asyncio.to_thread(thread.stop)


async def test_an_event_sent_the_moment_it_says_connected_arrives(thread: BackendThread) -> None:
    backend = thread.backend
    assert backend.operator_token is not None
    states: list[str] = []
    seen: list[str] = []

    async def publish_marker() -> None:
        backend.bus.publish("health", "health.update", {"name": "marker", "status": "ok"})

    def post(message: Message) -> None:
        if isinstance(message, ConnectionChanged):
            if message.state == "connected" and "connected" not in states:
                thread.call(publish_marker())  # what a screen's snapshot could race with
            states.append(message.state)
        elif isinstance(message, StreamBatch):
            seen.extend(str(e.data.get("name")) for e in message.events)

    client = HashInsightClient(backend.url, backend.operator_token)
    task = asyncio.create_task(connection_loop(client, post, 30.0, ("health",)))
    try:
        await eventually(lambda: "marker" in seen or None, 10, what="the marker event")
        assert states[:2] == ["connecting", "connected"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
