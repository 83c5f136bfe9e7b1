"""The `/ws` event stream: authenticate, subscribe, and yield events until the stream ends."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import websockets
from pydantic import BaseModel, ValidationError
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from hashinsight_contract.events import EventFrame, parse_payload
from hashinsight_tui.sdk.transport import (
    ApiError,
    ApiTransport,
    AuthError,
    ConnectionLost,
    decode_answer,
)

log = logging.getLogger("hashinsight.sdk")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    channel: str
    event: str
    data: dict[str, Any]
    ts: float

    def payload(self) -> BaseModel | None:
        """The event's data as its contract model (`hashinsight_contract.events`); None for an
        event type this client does not know. Raises ValueError when the data does not fit."""
        return parse_payload(self.event, self.data)


class StreamCalls(ApiTransport):
    @property
    def ws_url(self) -> str:
        base = self.base_url.rstrip("/")
        return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]) + "/ws"

    async def stream(
        self,
        channels: Iterable[str],
        filters: dict[str, Any] | None = None,
        *,
        open_timeout_s: float = 10.0,
        only_available: bool = False,
        on_subscribed: Callable[[], object] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Subscribe to channels and yield their events; ConnectionLost when the stream ends.

        `on_subscribed` runs once the server has confirmed the subscription: from then on no
        event is missed, so a snapshot read after it cannot fall between snapshot and stream.
        """
        try:
            async with websockets.connect(
                self.ws_url, open_timeout=open_timeout_s, max_size=2**22, ping_interval=20
            ) as ws:
                await ws.send(json.dumps({"type": "auth", "api_key": self.api_key}))
                reply = decode_answer(await asyncio.wait_for(ws.recv(), open_timeout_s))
                if reply.get("type") != "auth_ok":
                    raise AuthError(
                        401, reply.get("code", "unauthorized"), reply.get("message", "")
                    )
                wanted = list(channels)
                if only_available:  # skip channels this backend does not offer (older/partial)
                    offered = set(reply.get("channels") or ())
                    wanted = [c for c in wanted if c in offered]
                if wanted:
                    frame: dict[str, Any] = {"type": "subscribe", "channels": wanted}
                    if filters:
                        frame["filters"] = filters
                    await ws.send(json.dumps(frame))
                elif on_subscribed is not None:
                    on_subscribed()  # nothing to wait for
                    on_subscribed = None
                async for raw in ws:
                    message = decode_answer(raw)
                    kind = message.get("type")
                    if kind == "subscribed" and on_subscribed is not None:
                        on_subscribed()
                        on_subscribed = None
                    elif kind == "event":
                        try:
                            event = EventFrame.model_validate(message)
                        except ValidationError as exc:
                            # One frame that is not an event (a list for `data`, no channel)
                            # is dropped: it must not end the stream or reach the reader.
                            where = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
                            log.warning("dropped a malformed event frame (%s)", where or "frame")
                            continue
                        yield StreamEvent(event.channel, event.event, event.data, event.ts)
                    elif kind == "error":
                        raise ApiError(
                            400, message.get("code", "error"), message.get("message", "")
                        )
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "no reason"
            raise ConnectionLost(f"stream closed: {reason}") from None
        except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
            raise ConnectionLost(f"stream to {self.ws_url} failed: {type(exc).__name__}") from None
        raise ConnectionLost("stream ended")
