"""The WebSocket load generator of `bench/api.py`: many subscribers in one process, kept cheap.

A full client library costs tens of microseconds per message; at 50,000 messages/s that alone
saturates a core and the figure would measure the client. Each subscriber here is a bare
`asyncio.Protocol`: it does the RFC 6455 handshake, sends masked text frames (auth, subscribe),
parses the server's unmasked frames from one buffer and takes the delay of each event from its
`data.sent` publish timestamp (same host clock). It understands one event per frame and an
opt-in batch frame (`{"type":"events","events":[...]}`) alike.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import time
from array import array
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

END_EVENT = "bench.end"


def text_frame(payload: bytes) -> bytes:
    """A masked client text frame (clients must mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return head + mask + masked


class Tally:
    """What one client process saw."""

    def __init__(self, count: int) -> None:
        self.delays = array("d")
        self.end_lags = array("d")  # delay of the end marker: the backlog left at the end
        self.received = 0
        self.endings: dict[str, int] = {}
        self.ready = 0
        self.pending = count
        self.all_ready = asyncio.Event()
        self.all_done = asyncio.Event()

    def end(self, how: str) -> None:
        self.endings[how] = self.endings.get(how, 0) + 1
        self.pending -= 1
        if self.pending <= 0:
            self.all_done.set()


class Subscriber(asyncio.Protocol):
    def __init__(
        self, host: str, key: str, channel: str, options: dict[str, Any], tally: Tally
    ) -> None:
        self.host = host
        self.key = key
        self.channel = channel
        self.options = options
        self.tally = tally
        self.buffer = bytearray()
        self.stage = "handshake"
        self.finished = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(text_frame(orjson.dumps(message)))

    def finish(self, how: str) -> None:
        if not self.finished:
            self.finished = True
            self.tally.end(how)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish("connection lost")

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if self.stage == "handshake":
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.finish("handshake refused")
                return
            del buffer[: end + 4]
            self.stage = "auth"
            self.send({"type": "auth", "api_key": self.key})
        pos = 0
        size = len(buffer)
        while size - pos >= 2:
            opcode = buffer[pos] & 0x0F
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            pos = start + length
            if opcode == 1:
                self.on_text(payload, now)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.finish(f"closed {code} {payload[2:].decode(errors='replace')}".strip())
                return
            elif opcode == 9:  # answer pings so the server's keepalive is satisfied
                assert self.transport is not None
                mask = os.urandom(4)
                body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + mask + body)
        if pos:
            del buffer[:pos]

    def on_text(self, payload: bytes, now: float) -> None:
        message = orjson.loads(payload)
        kind = message.get("type")
        if kind == "event":
            self.on_event(message, now)
        elif kind == "events":
            for event in message["events"]:
                self.on_event(event, now)
        elif kind == "auth_ok":
            self.stage = "subscribe"
            frame = {"type": "subscribe", "channels": [self.channel], **self.options}
            self.send(frame)
        elif kind == "subscribed":
            self.stage = "ready"
            self.tally.ready += 1
            if self.tally.ready >= self.tally.pending:
                self.tally.all_ready.set()
        elif kind == "error":
            self.finish(f"error {message.get('code')}")

    def on_event(self, message: dict[str, Any], now: float) -> None:
        if message.get("event") == END_EVENT:
            self.tally.end_lags.append(now - message["data"]["sent"])
            self.finish("all received")
            return
        self.tally.delays.append(now - message["data"]["sent"])
        self.tally.received += 1


async def run_clients(
    conn: Any, url: str, keys: list[str], channel: str, options: dict[str, Any]
) -> None:
    """Connect one subscriber per key entry, report readiness, wait for the end marker."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    tally = Tally(len(keys))
    for start in range(0, len(keys), 100):  # do not stampede the accept queue
        batch = keys[start : start + 100]
        await asyncio.gather(
            *(
                loop.create_connection(
                    lambda key=key: Subscriber(f"{host}:{port}", key, channel, options, tally),
                    host,
                    port,
                )
                for key in batch
            )
        )
        deadline = time.monotonic() + 60
        while tally.ready + sum(tally.endings.values()) < start + len(batch):
            if time.monotonic() > deadline:
                raise TimeoutError("subscribers did not get ready within 60 s")
            await asyncio.sleep(0.01)
    conn.send({"ready": tally.ready, "endings": dict(tally.endings)})
    timeout = (await loop.run_in_executor(None, conn.recv))["timeout"]
    cpu_started = time.process_time()
    wall_started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.all_done.wait(), timeout)
    cpu = time.process_time() - cpu_started
    wall = time.monotonic() - wall_started
    stuck = tally.pending
    conn.send(
        {
            "delays": tally.delays.tobytes(),
            "end_lags": tally.end_lags.tobytes(),
            "received": tally.received,
            "endings": {**tally.endings, **({"no end marker": stuck} if stuck else {})},
            "cpu_s": cpu,
            "wall_s": wall,
        }
    )


def client_main(
    conn: Any,
    core: int,
    url: str,
    keys: list[str],
    channel: str,
    options: dict[str, Any],
    loop: str = "asyncio",
) -> None:
    """Entry point of one client process (spawned), pinned to `core`."""
    try:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[core % len(cores)]})
    except (AttributeError, OSError):
        pass
    if loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(run_clients(conn, url, keys, channel, options))
