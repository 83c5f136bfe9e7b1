"""The WebSocket hub at `/ws`: authenticate, subscribe to bus channels, receive events.

Protocol (JSON text frames; documented in docs/architecture.md):
  client → {"type": "auth", "api_key": "..."}          (or an Authorization header on the handshake)
  server → {"type": "auth_ok", "key_id": ..., "scopes": [...], "channels": [...]}
  client → {"type": "subscribe", "channels": ["health"], "filters": {"status": ["down"]}}
  server → {"type": "subscribed", "channels": [...]}
  client → {"type": "unsubscribe", "channels": [...]}  /  {"type": "ping"} → {"type": "pong"}
  server → {"type": "event", "channel": ..., "event": ..., "data": {...}, "ts": ...}
  server → {"type": "heartbeat", "ts": ...} every few seconds of silence
  server → {"type": "error", "code": ..., "message": ...} for a bad frame (the connection stays)
Fan-out (`ws_fanout.py`): one bus subscription for every client; each event is encoded once and
its frame bytes are written to each subscribed client's transport (`ws_wire.py`). A client whose
transport falls behind queues at most `ws_queue_size` frames; past that it is closed with 4008.
Tier limits: WebSocket access, open connections per key (across instances with Redis) and
subscribed channels per key (summed over the key's connections on this instance) come from the
key's tier; a connection over the limit is closed with
4029, a subscription over it gets an error frame. Failed authentications count against the
address like on REST (a blocked address is closed with 4029).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from backend.api.deps import QUERY_KEY_NAMES, access_service, bearer_token, verify_for
from backend.api.errors import ApiError
from backend.api.ws_fanout import Hub, Outbox
from backend.api.ws_wire import FRAMES_EXTENSION, FrameWriter
from backend.auth.service import KeyInfo
from backend.auth.ws_slots import Slot
from backend.core.bus import Event
from backend.core.untrusted import UntrustedInputError, loads

if TYPE_CHECKING:
    from backend.api.host import ApiHost

log = logging.getLogger("hashinsight.ws")
router = APIRouter()

CLOSE_AUTH_FAILED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TOO_SLOW = 4008
CLOSE_LIMIT = 4029
CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED_DATA = 1003
MAX_FRAME_BYTES = 64 * 1024
MAX_BAD_FRAMES = 20
CLOSE_WAIT_S = 5.0  # a client that does not take its close frame in this time is dropped


class WsClient:
    """One connected client: its key, its channels and filters, and its outbox of events."""

    def __init__(self, websocket: WebSocket, backend: ApiHost) -> None:
        self.ws = websocket
        self.backend = backend
        self.key: KeyInfo | None = None
        self.hub: Hub | None = None  # set once authenticated
        self.channels: set[str] = set()
        self.filters: dict[str, dict[str, set[str]]] = {}
        self.bad_frames = 0
        self.slot: Slot | None = None  # this connection's place in its key's limit
        self.send_lock = asyncio.Lock()
        writer = websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION)
        self.outbox = Outbox(
            writer if isinstance(writer, FrameWriter) else None, backend.settings.ws_queue_size
        )

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(json.dumps(message, separators=(",", ":"), default=str))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)
            self.outbox.last_sent = time.monotonic()

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    def passes(self, event: Event) -> bool:
        wanted = self.filters.get(event.channel)
        if not wanted:
            return True
        for field, allowed in wanted.items():
            value = event.data.get(field)
            if value is None or str(value) not in allowed:
                return False
        return True


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    backend: ApiHost = websocket.app.state.backend
    await websocket.accept()
    client = WsClient(websocket, backend)
    backend.ws_clients.add(client)
    try:
        if QUERY_KEY_NAMES & {name.lower() for name in websocket.query_params}:
            await client.error(
                "bad_request",
                "API keys are not accepted in the query string; use Authorization: Bearer "
                'on the handshake or an {"type":"auth"} frame',
            )
            await _close(client, CLOSE_POLICY, "API key in the query string")
            return
        token = bearer_token(websocket.headers.get("authorization"))
        if token is not None:
            await _authenticate(client, token)
        else:
            await _await_auth(client)
        if client.key is None:
            return
        await _serve(client)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away, or we closed the socket ourselves
    finally:
        backend.ws_clients.discard(client)
        if client.hub is not None and client.key is not None:
            client.hub.remove(client.key.key_id, client)
        access = access_service(backend)
        if client.slot is not None and access is not None:
            await access.close_connection(client.slot)


async def _await_auth(client: WsClient) -> None:
    timeout = client.backend.settings.ws_auth_timeout_s
    deadline = time.monotonic() + timeout
    while client.key is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await _close(client, CLOSE_AUTH_FAILED, "authentication timed out")
            return
        try:
            text = await asyncio.wait_for(_receive_text(client.ws), remaining)
        except TimeoutError:
            await _close(client, CLOSE_AUTH_FAILED, "authentication timed out")
            return
        if text is None:  # a binary frame before auth: not our protocol at all
            await client.error("binary_frame", "frames must be JSON text, not binary")
            await _close(client, CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
            return
        message = await _parse_frame(client, text)
        if message is None:
            if client.bad_frames > MAX_BAD_FRAMES:
                await _close(client, CLOSE_POLICY, "too many bad frames")
                return
            continue
        if message.get("type") != "auth":
            await client.error("auth_required", 'send {"type":"auth","api_key":...} first')
            continue
        api_key = message.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            await client.error("bad_frame", "auth needs a string 'api_key'")
            continue
        if not await _authenticate(client, api_key):
            return


async def _authenticate(client: WsClient, api_key: str) -> bool:
    try:
        info = await verify_for(client.ws, client.backend, api_key)
    except ApiError as exc:
        await client.error(exc.code, exc.message)
        await _close(client, CLOSE_LIMIT, "too many failed authentications")
        return False
    if info is None:
        await client.error("unauthorized", "invalid, expired or revoked API key")
        await _close(client, CLOSE_AUTH_FAILED, "invalid API key")
        return False
    if not info.has("stream"):
        await client.error("forbidden", "this key lacks the 'stream' scope")
        await _close(client, CLOSE_FORBIDDEN, "missing stream scope")
        return False
    access = access_service(client.backend)
    if access is not None:
        tier = access.tier(info)
        if tier.ws_connections <= 0:
            await client.error(
                "forbidden", f"the {tier.name} tier has no WebSocket access (pro and up have)"
            )
            await _close(client, CLOSE_FORBIDDEN, "tier without WebSocket access")
            return False
        client.slot = await access.open_connection(info)
        if client.slot is None:
            await client.error(
                "connection_limit",
                f"the {tier.name} tier allows {tier.ws_connections} open connections per key",
            )
            await _close(client, CLOSE_LIMIT, "too many connections for this key")
            return False
    hub = _hub(client)
    if hub.closed:
        await _close(client, 1001, "server shutting down")
        return False
    client.key = info
    client.hub = hub
    hub.add(info.key_id, client)
    await client.send(
        {
            "type": "auth_ok",
            "key_id": info.key_id,
            "scopes": list(info.scopes),
            "channels": sorted(client.backend.channels),
        }
    )
    return True


async def _serve(client: WsClient) -> None:
    pump = asyncio.create_task(_pump_events(client))
    beat = asyncio.create_task(_heartbeat(client))
    try:
        while True:
            text = await _receive_text(client.ws)
            if text is None:
                client.bad_frames += 1
                await client.error("binary_frame", "frames must be JSON text, not binary")
                message = None
            else:
                message = await _parse_frame(client, text)
            if message is None:
                if client.bad_frames > MAX_BAD_FRAMES:
                    await _close(client, CLOSE_POLICY, "too many bad frames")
                    return
                continue
            await _handle(client, message)
            if pump.done():
                return
    finally:
        for task in (pump, beat):
            task.cancel()
        for task in (pump, beat):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _receive_text(websocket: WebSocket) -> str | None:
    """The next text frame, or None for a binary one (Starlette's receive_text raises on those)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


async def _parse_frame(client: WsClient, text: str) -> dict[str, Any] | None:
    try:
        message = loads(
            text,
            max_bytes=MAX_FRAME_BYTES,
            max_depth=client.backend.settings.json_max_depth,
            what="frame",
        )
    except UntrustedInputError as exc:
        client.bad_frames += 1
        code = "frame_too_large" if exc.too_large else "bad_frame"
        await client.error(code, str(exc))
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        client.bad_frames += 1
        await client.error("bad_frame", "a frame must be a JSON object with a string 'type'")
        return None
    return message


async def _handle(client: WsClient, message: dict[str, Any]) -> None:
    kind = message["type"]
    hub, key = client.hub, client.key
    assert hub is not None and key is not None
    if kind == "ping":
        await client.send({"type": "pong", "ts": time.time()})
    elif kind == "auth":
        await client.error("already_authenticated", "this connection is already authenticated")
    elif kind in ("subscribe", "unsubscribe"):
        channels = message.get("channels")
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) for c in channels)
        ):
            await client.error("bad_frame", f"{kind} needs a non-empty list of channel names")
            return
        unknown = sorted(set(channels) - client.backend.channels)
        if unknown:
            known = ", ".join(sorted(client.backend.channels))
            await client.error("unknown_channel", f"unknown channel {unknown[0]!r}; known: {known}")
            return
        current = client.channels
        if kind == "subscribe":
            filters = message.get("filters", {})
            if not isinstance(filters, dict):
                await client.error("bad_frame", "filters must be an object of field → value(s)")
                return
            limit = _subscription_limit(client)
            if limit is not None:
                others = hub.channels_of_key(key.key_id, client)
                wanted = len(current | set(channels))
                if others + wanted > limit:
                    await client.error(
                        "subscription_limit",
                        f"this key may hold {limit} channel subscriptions across its "
                        f"connections; it holds {others + len(current)}",
                    )
                    return
            parsed = {
                str(field): {str(v) for v in (value if isinstance(value, list) else [value])}
                for field, value in filters.items()
            }
            for channel in channels:
                if parsed:
                    client.filters[channel] = parsed
                else:
                    client.filters.pop(channel, None)
            hub.subscribe(client, channels)
            await client.send({"type": "subscribed", "channels": sorted(current)})
        else:
            hub.unsubscribe(client, channels)
            await client.send({"type": "unsubscribed", "channels": sorted(current)})
    else:
        await client.error("unknown_type", f"unknown frame type {kind!r}")


def _hub(client: WsClient) -> Hub:
    """The app's fan-out hub, started with the first authenticated client."""
    state = client.ws.app.state
    hub: Hub | None = getattr(state, "ws_hub", None)
    if hub is None:
        hub = Hub(client.backend.bus, client.backend.settings.ws_queue_size)
        state.ws_hub = hub
    return hub


def _subscription_limit(client: WsClient) -> int | None:
    access = access_service(client.backend)
    if access is None or client.key is None:
        return None
    return access.tier(client.key).ws_subscriptions


async def _pump_events(client: WsClient) -> None:
    """Send what the hub queued for this client, and close it when cut or at shutdown."""
    outbox = client.outbox
    while True:
        await outbox.wake.wait()
        outbox.wake.clear()
        if outbox.cut:
            await _close(client, CLOSE_TOO_SLOW, "client too slow: event queue overflowed")
            return
        if outbox.shutting_down:
            await _close(client, 1001, "server shutting down")
            return
        if outbox.writer is not None:  # frame writes need no lock: each is one call
            await outbox.flush(client.ws.send_text)
        else:
            async with client.send_lock:
                await outbox.flush(client.ws.send_text)


async def _heartbeat(client: WsClient) -> None:
    interval = client.backend.settings.ws_heartbeat_s
    while True:
        await asyncio.sleep(interval / 2)
        if time.monotonic() - client.outbox.last_sent >= interval:
            await client.send({"type": "heartbeat", "ts": time.time()})


async def _close(client: WsClient, code: int, reason: str) -> None:
    """Close with a code and reason; a client that does not drain its socket enough to take the
    close frame within CLOSE_WAIT_S loses the connection instead."""
    try:
        async with asyncio.timeout(CLOSE_WAIT_S):
            await client.ws.close(code=code, reason=reason)
    except TimeoutError:
        if client.outbox.writer is not None:
            client.outbox.writer.abort()
    except Exception:  # already closed, or the client went away
        pass
