"""WebSocket fan-out: frames written once for many clients, coalesced bursts, filters, order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from backend.api.ws_fanout import Outbox
from backend.api.ws_wire import EncodedEvent, text_frame
from backend.core.bus import Event
from backend.runtime import Backend


def ws_url(backend: Backend) -> str:
    return backend.url.replace("http://", "ws://") + "/ws"


async def recv(ws: websockets.ClientConnection, wait_s: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def subscribe(
    ws: websockets.ClientConnection, key: str, channels: list[str], **extra: Any
) -> None:
    await ws.send(json.dumps({"type": "auth", "api_key": key}))
    assert (await recv(ws))["type"] == "auth_ok"
    await ws.send(json.dumps({"type": "subscribe", "channels": channels, **extra}))
    assert (await recv(ws))["type"] == "subscribed"


async def events(ws: websockets.ClientConnection, count: int) -> list[dict[str, Any]]:
    got = []
    while len(got) < count:
        message = await recv(ws)
        if message["type"] == "event":
            got.append(message)
    return got


async def test_compressed_and_plain_clients_get_the_same_events_in_order(
    backend: Backend, operator_key: str
) -> None:
    async with (
        websockets.connect(ws_url(backend)) as deflate,  # offers permessage-deflate
        websockets.connect(ws_url(backend), compression=None) as plain,
    ):
        await subscribe(deflate, operator_key, ["health"])
        await subscribe(plain, operator_key, ["health"])
        # uvicorn runs our protocol: events bypass the per-client ASGI path.
        assert all(client.outbox.writer is not None for client in backend.ws_clients)
        for n in range(50):  # one burst: the hub sends it to each client in one write
            backend.bus.publish("health", "health.update", {"name": f"db{n}", "n": n})
        a, b = await events(deflate, 50), await events(plain, 50)
    assert [e["data"]["n"] for e in a] == list(range(50))
    assert a == b
    assert a[0]["channel"] == "health" and a[0]["event"] == "health.update"


async def test_filters_and_unsubscribe_apply_per_client(
    backend: Backend, operator_key: str
) -> None:
    async with (
        websockets.connect(ws_url(backend)) as everything,
        websockets.connect(ws_url(backend)) as down_only,
    ):
        await subscribe(everything, operator_key, ["health"])
        await subscribe(down_only, operator_key, ["health"], filters={"status": ["down"]})
        for status in ("ok", "down", "ok", "down"):
            backend.bus.publish("health", "health.update", {"status": status})
        assert [e["data"]["status"] for e in await events(everything, 4)] == [
            "ok",
            "down",
            "ok",
            "down",
        ]
        assert [e["data"]["status"] for e in await events(down_only, 2)] == ["down", "down"]
        await down_only.send(json.dumps({"type": "unsubscribe", "channels": ["health"]}))
        assert (await recv(down_only))["channels"] == []
        backend.bus.publish("health", "health.update", {"status": "down", "last": True})
        assert (await events(everything, 1))[0]["data"]["last"] is True
        await down_only.send(json.dumps({"type": "ping"}))
        assert (await recv(down_only))["type"] == "pong"  # nothing queued before the pong


async def test_two_channels_in_one_burst_keep_publish_order(
    backend: Backend, operator_key: str
) -> None:
    backend.channels.add("extra")
    async with websockets.connect(ws_url(backend)) as ws:
        await subscribe(ws, operator_key, ["health", "extra"])
        for n in range(6):
            backend.bus.publish("extra" if n % 2 else "health", "tick", {"n": n})
        got = await events(ws, 6)
    assert [(e["channel"], e["data"]["n"]) for e in got] == [
        ("health", 0),
        ("extra", 1),
        ("health", 2),
        ("extra", 3),
        ("health", 4),
        ("extra", 5),
    ]


async def test_data_json_cannot_hold_natively_still_reaches_the_client(
    backend: Backend, operator_key: str
) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await subscribe(ws, operator_key, ["health"])
        backend.bus.publish("health", "odd", {"big": 2**70, 7: "int key", "when": object})
        (event,) = await events(ws, 1)
    assert event["data"]["big"] == 2**70 and event["data"]["7"] == "int key"
    assert "object" in event["data"]["when"]


def test_frame_headers_for_each_length_class() -> None:
    for size, head in ((125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"), (70_000, b"\x81\x7f")):
        frame = text_frame(b"x" * size)
        assert frame.startswith(head) and frame.endswith(b"x" * size)
    assert len(text_frame(b"x" * 70_000)) == 70_000 + 10


async def test_outbox_without_frame_writer_sends_through_asgi_and_cuts_on_overflow() -> None:
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    outbox = Outbox(None, maxsize=3)
    frames = [EncodedEvent(Event("health", "tick", {"n": n})) for n in range(3)]
    joined = b"".join(f.wire for f in frames)
    assert outbox.offer(frames, joined, 0.0)
    await outbox.flush(send_text)
    assert [json.loads(t)["data"]["n"] for t in sent] == [0, 1, 2]
    assert outbox.offer(frames[:2], joined, 0.0)
    assert not outbox.offer(frames[:2], joined, 0.0)  # 4 queued > 3: cut, queue dropped
    assert outbox.cut and not outbox.frames and outbox.wake.is_set()


async def test_a_client_that_stops_reading_is_cut_and_dropped(
    backend: Backend, operator_key: str
) -> None:
    async with websockets.connect(ws_url(backend), max_queue=1, compression=None) as ws:
        await subscribe(ws, operator_key, ["health"])
        (server_side,) = backend.ws_clients
        pad = "x" * 16384
        dropped = backend.bus.dropped_total
        # Bursts smaller than the queue: the socket buffers fill, then the queue, then the cut.
        for _ in range(40):
            for _ in range(200):
                backend.bus.publish("health", "health.update", {"pad": pad})
            await asyncio.sleep(0.02)
            if server_side.outbox.cut:
                break
        assert server_side.outbox.cut
        assert backend.bus.dropped_total > dropped
        for _ in range(100):  # the close frame cannot get through: dropped within CLOSE_WAIT_S
            if server_side not in backend.ws_clients:
                break
            await asyncio.sleep(0.1)
        assert server_side not in backend.ws_clients
