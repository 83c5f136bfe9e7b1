"""The connection worker: REST snapshot, then the WebSocket stream, reconnecting by itself.

A console must come back from whatever the backend does without anyone restarting it:

- the backend went away (restart, network loss): retry every few seconds at most, so the
  console is connected again within `RECONNECT_MAX_S` of the backend answering;
- the key is refused (revoked, or the local operator token was replaced when the backend
  restarted): a console attached with the local token re-reads `operator-token.json` and goes on
  with the new token; any other console says so plainly and waits for a new key (`KeyNeeded`;
  the app asks the operator for one and restarts this worker with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from hashinsight_tui.client import (
    ApiError,
    AuthError,
    ConnectionLost,
    HashInsightClient,
    StreamEvent,
)
from hashinsight_tui.messages import (
    AlertsLoaded,
    ConnectionChanged,
    HealthLoaded,
    KeyLoaded,
    KeyNeeded,
    StreamBatch,
)

BATCH_WINDOW_S = 0.25
RECONNECT_MAX_S = 3.0  # a restarted backend is found again within this (plus one attempt)
TOKEN_RECHECK_S = 1.0  # how often a refused local-token console looks for a new token
UNAUTHORIZED_RETRY_S = 30.0  # a refused typed key: the operator is asked for another one

# A function giving the (url, api key) to use now, e.g. read from the local token file.
KeySource = Callable[[], tuple[str, str] | None]


def token_file_source(path: str | Path) -> KeySource:
    """Read the backend's local operator-token file each time (it changes on every restart)."""

    def read() -> tuple[str, str] | None:
        try:
            data = json.loads(Path(path).read_bytes()[:65_536])
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        url, key = data.get("url"), data.get("api_key")
        if not isinstance(url, str) or not isinstance(key, str) or not key:
            return None
        return url, key

    return read


def use_key(client: HashInsightClient, api_key: str, url: str | None = None) -> None:
    """Point the client at a new key (and URL) without closing it: calls in flight finish."""
    client.api_key = api_key
    if url is not None and url.rstrip("/") != client.base_url.rstrip("/"):
        client.base_url = url
        if client._http is not None:
            client._http.base_url = url.rstrip("/")  # type: ignore[assignment]
    if client._http is not None:
        client._http.headers["Authorization"] = f"Bearer {api_key}"


async def connection_loop(
    client: HashInsightClient,
    post: Callable[[Message], object],
    refresh_s: float,
    channels: tuple[str, ...] = ("health",),
    key_source: KeySource | None = None,
) -> None:
    """Run forever: never raises, only reports what happens through messages."""
    backoff = 0.5
    asked = False
    while True:
        try:
            post(ConnectionChanged("connecting", client.base_url))
            post(KeyLoaded(await client.me()))
            post(HealthLoaded(await client.health()))
            await _load_alerts(client, post)

            def connected() -> None:
                nonlocal backoff, asked
                backoff, asked = 0.5, False
                post(ConnectionChanged("connected", client.base_url))

            await _follow(client, post, refresh_s, channels, connected)
        except AuthError as exc:
            if key_source is not None:
                found = key_source()
                if found is not None and found[1] != client.api_key:
                    use_key(client, found[1], found[0])
                    post(ConnectionChanged("connecting", client.base_url, "new local token"))
                    continue
                post(
                    ConnectionChanged(
                        "unauthorized",
                        client.base_url,
                        f"{exc.message}; waiting for the backend's new local token",
                        TOKEN_RECHECK_S,
                    )
                )
                await asyncio.sleep(TOKEN_RECHECK_S)
                continue
            post(ConnectionChanged("unauthorized", client.base_url, exc.message, None))
            if not asked:
                post(KeyNeeded(exc.message))
                asked = True
            await asyncio.sleep(UNAUTHORIZED_RETRY_S)
            continue
        except (ConnectionLost, ApiError, OSError, ValueError, KeyError) as exc:
            detail = exc.message if isinstance(exc, ApiError) else str(exc)
            post(ConnectionChanged("reconnecting", client.base_url, detail, backoff))
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, RECONNECT_MAX_S)


async def _load_alerts(client: HashInsightClient, post: Callable[[Message], object]) -> None:
    """The open alerts, for the status bar and the Alerts screen (absent without a fleet)."""
    try:
        post(AlertsLoaded(await client.open_alerts()))
    except AuthError:
        raise
    except ApiError as exc:
        post(AlertsLoaded(None, exc.message))


async def _follow(
    client: HashInsightClient,
    post: Callable[[Message], object],
    refresh_s: float,
    channels: tuple[str, ...],
    connected: Callable[[], None],
) -> None:
    """Stream events in short batches; also re-read the REST snapshot every `refresh_s`.

    `connected` runs once the server has confirmed the subscription, not before: the screens
    load their REST snapshots on "connected", and an event sent between a snapshot and the
    subscription would be lost (a fleet row would lack its model until the next full reload).
    """
    pending: list[StreamEvent] = []
    flush_at: float | None = None
    queue: asyncio.Queue[StreamEvent | BaseException] = asyncio.Queue()

    async def reader() -> None:
        try:
            stream = client.stream(channels, only_available=True, on_subscribed=connected)
            async for event in stream:
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
                await _load_alerts(client, post)
                next_snapshot = now + refresh_s
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
