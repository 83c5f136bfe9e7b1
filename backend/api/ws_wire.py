"""Event frames encoded once, written to many WebSocket connections as the same bytes.

A server's frames are never masked (RFC 6455 section 5.1), so an event's whole frame, header
and payload, is identical for every subscriber: it is built once per event and handed to each
connection's transport, instead of going through the ASGI send path (a message dict, the
protocol library's frame object and its serialiser) once per subscriber. Frames written this
way are uncompressed text frames (RSV1 clear), which RFC 7692 allows on a connection that
negotiated permessage-deflate, so every client reads them whatever it offered.

`FanoutWebSocketProtocol` is uvicorn's sans-I/O WebSocket protocol plus one ASGI scope
extension, `hashinsight.ws.frames`, carrying a `FrameWriter` for the connection. Under any other
server the extension is absent and `/ws` sends through ASGI as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from backend.core.bus import Event

FRAMES_EXTENSION = "hashinsight.ws.frames"
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
POLL_S = 0.1


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked, uncompressed text frame carrying `payload` (UTF-8 JSON)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def event_payload(event: Event) -> bytes:
    """The `{"type":"event",...}` document of an event, as UTF-8 JSON bytes."""
    document: dict[str, Any] = {"type": "event", **event.to_dict()}
    try:
        return orjson.dumps(document, default=str, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        return json.dumps(document, separators=(",", ":"), default=str).encode()


class EncodedEvent:
    """An event's frame, built once per event however many connections receive it."""

    __slots__ = ("_text", "payload", "wire")

    def __init__(self, event: Event) -> None:
        self.payload = event_payload(event)
        self.wire = text_frame(self.payload)
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The payload as text, for connections that send through ASGI."""
        if self._text is None:
            self._text = self.payload.decode()
        return self._text


class FrameWriter:
    """Writes ready-made frames to one connection's transport, honouring its flow control."""

    __slots__ = ("_protocol", "_transport", "_writable")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._writable = protocol.writable  # cleared by the transport above its high-water mark

    @property
    def gone(self) -> bool:
        """Closing or closed: nothing written now would be read."""
        p = self._protocol
        return p.close_sent or p.disconnected or self._transport.is_closing()

    def try_write(self, data: bytes) -> bool:
        """Write now if the transport is below its high-water mark; False means queue it.
        A connection on its way out takes (and discards) anything."""
        p = self._protocol
        if p.close_sent or p.disconnected or self._transport.is_closing():
            return True
        if not self._writable.is_set():
            return False
        self._transport.write(data)
        return True

    async def wait_writable(self, give_up: Callable[[], bool]) -> bool:
        """Wait until the transport drains below its low-water mark; False if the connection
        went away or `give_up()` turned true meanwhile (checked every POLL_S)."""
        while not self._writable.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._writable.wait(), POLL_S)
            if give_up():
                return False
        return not self.gone

    def write(self, data: bytes) -> None:
        """Write regardless of the high-water mark (after `wait_writable`)."""
        if not self.gone:
            self._transport.write(data)

    def abort(self) -> None:
        """Drop the connection at once (a client that does not even read its close frame)."""
        self._transport.abort()


class FanoutWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering each connection's `FrameWriter` in the scope."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = FrameWriter(self)  # type: ignore[index]
