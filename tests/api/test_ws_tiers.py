"""WebSocket tier limits (access, connections, subscriptions) and subscription filters."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import websockets

from backend.runtime import Backend
from tests.api.conftest import register_partner


def ws_url(backend: Backend) -> str:
    return backend.url.replace("http://", "ws://") + "/ws"


async def recv(ws: websockets.ClientConnection, wait_s: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def auth(ws: websockets.ClientConnection, key: str) -> dict:
    await ws.send(json.dumps({"type": "auth", "api_key": key}))
    return await recv(ws)


async def closed_code(ws: websockets.ClientConnection) -> int | None:
    with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
        while True:
            await recv(ws, 3)
    return ws.close_code


async def test_basic_tier_has_no_websocket(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key, scopes=["read", "stream"])
    async with websockets.connect(ws_url(backend)) as ws:
        reply = await auth(ws, partner["api_key"])
        assert reply["code"] == "forbidden" and "basic" in reply["message"]
        assert await closed_code(ws) == 4003


async def test_pro_tier_connection_and_subscription_limits(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key, tier="pro")  # 5 conns, 20 subs
    key = partner["api_key"]
    channels = sorted(backend.channels)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(websockets.connect(ws_url(backend))) for _ in range(5)
        ]
        for ws in sockets:
            assert (await auth(ws, key))["type"] == "auth_ok"
        extra = await stack.enter_async_context(websockets.connect(ws_url(backend)))
        reply = await auth(extra, key)
        assert reply["code"] == "connection_limit"
        assert await closed_code(extra) == 4029
        held = 0
        refused = None
        for ws in sockets:
            await ws.send(json.dumps({"type": "subscribe", "channels": channels}))
            answer = await recv(ws)
            if answer["type"] == "subscribed":
                held += len(channels)
            else:
                refused = answer
                break
        if len(channels) * 5 > 20:
            assert refused is not None and refused["code"] == "subscription_limit"
            assert held <= 20
        # An operator key on the same backend is unaffected.
        async with websockets.connect(ws_url(backend)) as ops:
            assert (await auth(ops, operator_key))["type"] == "auth_ok"


async def test_filters_pick_events_by_field(backend: Backend, operator_key: str) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await auth(ws, operator_key)
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "channels": ["notarizations"],
                    "filters": {"status": ["failed", "completed"]},
                }
            )
        )
        assert (await recv(ws))["type"] == "subscribed"
        for status in ("running", "completed", "running", "failed"):
            backend.bus.publish("notarizations", "notary.update", {"id": 1, "status": status})
        got = [await recv(ws) for _ in range(2)]
        assert [e["data"]["status"] for e in got] == ["completed", "failed"]
        await ws.send(json.dumps({"type": "unsubscribe", "channels": ["notarizations"]}))
        assert (await recv(ws))["type"] == "unsubscribed"
        backend.bus.publish("notarizations", "notary.update", {"id": 2, "status": "failed"})
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
