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
Each client has a bounded queue; a client too slow to drain it is closed with code 4008.
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
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from backend.api.deps import QUERY_KEY_NAMES, access_service, bearer_token, verify_for
from backend.api.errors import ApiError
from backend.auth.service import KeyInfo
from backend.auth.ws_slots import Slot
from backend.core.bus import Event, Subscription, SubscriptionClosed
from backend.core.untrusted import UntrustedInputError, loads

if TYPE_CHECKING:
    from backend.runtime import Backend

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


class WsClient:
    """One connected client: its key, its bus subscription and its filters."""

    def __init__(self, websocket: WebSocket, backend: Backend) -> None:
        self.ws = websocket
        self.backend = backend
        self.key: KeyInfo | None = None
        self.subscription: Subscription | None = None
        self.filters: dict[str, dict[str, set[str]]] = {}
        self.bad_frames = 0
        self.slot: Slot | None = None  # this connection's place in its key's limit
        self.send_lock = asyncio.Lock()
        self.last_sent = time.monotonic()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(json.dumps(message, separators=(",", ":"), default=str))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)
            self.last_sent = time.monotonic()

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
    backend: Backend = websocket.app.state.backend
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
        if client.subscription is not None:
            client.subscription.close()
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
    client.key = info
    client.subscription = client.backend.bus.subscribe(
        set(), maxsize=client.backend.settings.ws_queue_size, policy="cut", name=info.key_id
    )
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
    assert client.subscription is not None
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
        current = client.subscription.channels
        assert current is not None
        if kind == "subscribe":
            filters = message.get("filters", {})
            if not isinstance(filters, dict):
                await client.error("bad_frame", "filters must be an object of field → value(s)")
                return
            limit = _subscription_limit(client)
            if limit is not None:
                others = sum(
                    len(c.subscription.channels or ())
                    for c in client.backend.ws_clients
                    if c is not client
                    and c.key
                    and c.subscription is not None
                    and client.key is not None
                    and c.key.key_id == client.key.key_id
                )
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
                current.add(channel)
                if parsed:
                    client.filters[channel] = parsed
                else:
                    client.filters.pop(channel, None)
            await client.send({"type": "subscribed", "channels": sorted(current)})
        else:
            for channel in channels:
                current.discard(channel)
                client.filters.pop(channel, None)
            await client.send({"type": "unsubscribed", "channels": sorted(current)})
    else:
        await client.error("unknown_type", f"unknown frame type {kind!r}")


_ENCODED: OrderedDict[int, tuple[Event, str]] = OrderedDict()
ENCODED_CACHE = 512


def encode_event(event: Event) -> str:
    """An event's frame, encoded once however many clients receive it (fan-out cost)."""
    cached = _ENCODED.get(id(event))
    if cached is not None and cached[0] is event:
        return cached[1]
    text = json.dumps({"type": "event", **event.to_dict()}, separators=(",", ":"), default=str)
    _ENCODED[id(event)] = (event, text)
    while len(_ENCODED) > ENCODED_CACHE:
        _ENCODED.popitem(last=False)
    return text


def _subscription_limit(client: WsClient) -> int | None:
    access = access_service(client.backend)
    if access is None or client.key is None:
        return None
    return access.tier(client.key).ws_subscriptions


async def _pump_events(client: WsClient) -> None:
    assert client.subscription is not None
    try:
        while True:
            event = await client.subscription.get()
            if client.passes(event):
                await client.send_text(encode_event(event))
    except SubscriptionClosed:
        if client.subscription.cut:
            await _close(client, CLOSE_TOO_SLOW, "client too slow: event queue overflowed")
        else:
            await _close(client, 1001, "server shutting down")


async def _heartbeat(client: WsClient) -> None:
    interval = client.backend.settings.ws_heartbeat_s
    while True:
        await asyncio.sleep(interval / 2)
        if time.monotonic() - client.last_sent >= interval:
            await client.send({"type": "heartbeat", "ts": time.time()})


async def _close(client: WsClient, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await client.ws.close(code=code, reason=reason)
