"""The connection worker: REST snapshot, then the WebSocket stream, reconnecting with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from textual.message import Message

from hashinsight_tui.client import (
    ApiError,
    AuthError,
    ConnectionLost,
    HashInsightClient,
    StreamEvent,
)
from hashinsight_tui.messages import ConnectionChanged, HealthLoaded, KeyLoaded, StreamBatch

BATCH_WINDOW_S = 0.25
MAX_BACKOFF_S = 30.0


async def connection_loop(
    client: HashInsightClient,
    post: Callable[[Message], object],
    refresh_s: float,
    channels: tuple[str, ...] = ("health",),
) -> None:
    """Run forever: never raises, only reports what happens through messages."""
    backoff = 1.0
    while True:
        try:
            post(ConnectionChanged("connecting", client.base_url))
            post(KeyLoaded(await client.me()))
            post(HealthLoaded(await client.health()))
            post(ConnectionChanged("connected", client.base_url))
            backoff = 1.0
            await _follow(client, post, refresh_s, channels)
        except AuthError as exc:
            post(ConnectionChanged("unauthorized", client.base_url, exc.message, MAX_BACKOFF_S))
            await asyncio.sleep(MAX_BACKOFF_S)
            continue
        except (ConnectionLost, ApiError, OSError, ValueError, KeyError) as exc:
            detail = exc.message if isinstance(exc, ApiError) else str(exc)
            post(ConnectionChanged("reconnecting", client.base_url, detail, backoff))
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


async def _follow(
    client: HashInsightClient,
    post: Callable[[Message], object],
    refresh_s: float,
    channels: tuple[str, ...],
) -> None:
    """Stream events in short batches; also re-read the REST snapshot every `refresh_s`."""
    pending: list[StreamEvent] = []
    flush_at: float | None = None
    queue: asyncio.Queue[StreamEvent | BaseException] = asyncio.Queue()

    async def reader() -> None:
        try:
            async for event in client.stream(channels, only_available=True):
                queue.put_nowait(event)
        except BaseException as exc:  # handed to the loop below, which decides
            queue.put_nowait(exc)

    task = asyncio.create_task(reader())
    next_snapshot = time.monotonic() + refresh_s
    try:
        while True:
            now = time.monotonic()
            deadline = min(flush_at or next_snapshot, next_snapshot)
            try:
                item = await asyncio.wait_for(queue.get(), max(0.0, deadline - now))
            except TimeoutError:
                item = None
            if isinstance(item, BaseException):
                raise item
            if item is not None:
                pending.append(item)
                flush_at = flush_at or time.monotonic() + BATCH_WINDOW_S
            now = time.monotonic()
            if pending and flush_at is not None and now >= flush_at:
                post(StreamBatch(pending))
                pending, flush_at = [], None
            if now >= next_snapshot:
                post(HealthLoaded(await client.health()))
                next_snapshot = now + refresh_s
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
