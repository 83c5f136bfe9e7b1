"""A tiny HTTP/1.1 server on 127.0.0.1 for the provider simulators, with switchable faults.

Enough HTTP for httpx: request line, headers, Content-Length bodies, keep-alive. Routes are plain
functions of a `SimRequest` returning a `SimResponse`. Faults are set from tests (or the demo) on
the server object and can be limited to the next N requests:

    server.set_fault(Fault.HTTP_429, retry_after_s=30)
    server.set_fault(Fault.DOWN)           # stops listening: connection refused
    server.clear_fault()                   # listens again on the same port

or, on a running demo, over loopback: `POST /__sim__/fault {"fault": "http_429"}` / `DELETE`.

DOWN really closes the listening socket and every open connection, so clients see what they see
when a provider is unreachable; SLOW delays every answer by `delay_s`; MALFORMED answers 200 with a
truncated body; HTTP_429 / HTTP_500 answer that status (429 with `Retry-After`); ABSURD lets the
routes answer well-formed but impossible values (for the absurd-value guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("hashinsight.sim")
CONTROL_PATH = "/__sim__/fault"
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class Fault(StrEnum):
    DOWN = "down"
    SLOW = "slow"
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    MALFORMED = "malformed"
    ABSURD = "absurd"  # well-formed answers with impossible values (negative price, unit slips)


@dataclass(frozen=True, slots=True)
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    absurd: bool = False

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(slots=True)
class SimResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> SimResponse:
        return cls(status, json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def text(cls, text: str, status: int = 200) -> SimResponse:
        return cls(status, text.encode(), "text/plain")


Route = Callable[[SimRequest], SimResponse]


@dataclass(slots=True)
class FaultState:
    fault: Fault
    remaining: int | None  # None: until cleared
    delay_s: float
    retry_after_s: float


class LoopbackHttpServer:
    """One simulated provider on its own port; `routes` maps (method, path) to a handler."""

    def __init__(self, name: str, routes: dict[tuple[str, str], Route], host: str = "127.0.0.1"):
        self.name = name
        self.routes = routes
        self.host = host
        self.port = 0
        self.requests: list[str] = []  # "GET /path" of every request answered or faulted
        self.last_request: SimRequest | None = None
        self._fault: FaultState | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()  # open connections
        self._control: set[asyncio.Task[Any]] = set()  # pending stop/restart of listening

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def fault(self) -> Fault | None:
        return self._fault.fault if self._fault else None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def stop(self) -> None:
        await self.settle()
        await self._close_listener()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def set_fault(
        self,
        fault: Fault | str,
        *,
        count: int | None = None,
        delay_s: float = 3.0,
        retry_after_s: float = 30.0,
    ) -> None:
        """Inject a fault for the next `count` requests (all, if None)."""
        state = FaultState(Fault(fault), count, delay_s, retry_after_s)
        self._fault = state
        if state.fault is Fault.DOWN:
            self._spawn(self._close_listener())

    def clear_fault(self) -> None:
        was_down = self._fault is not None and self._fault.fault is Fault.DOWN
        self._fault = None
        if was_down or self._server is None:
            self._spawn(self.start())

    async def settle(self) -> None:
        """Wait until a fault change (stop/restart listening) has taken effect."""
        if self._control:
            await asyncio.gather(*list(self._control), return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._control.add(task)
        task.add_done_callback(self._control.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                response = await self._answer(request)
                keep = request.headers.get("connection", "").lower() != "close"
                writer.write(encode_response(response, keep))
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:  # stop(): end quietly (asyncio logs a cancelled handler)
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, request: SimRequest) -> SimResponse:
        if request.path == CONTROL_PATH:
            return self._control_request(request)
        self.requests.append(f"{request.method} {request.path}")
        self.last_request = request
        state = self._fault
        if state is not None:
            if state.remaining is not None:
                state.remaining -= 1
                if state.remaining <= 0:
                    self._fault = None
            if state.fault is Fault.SLOW:
                await asyncio.sleep(state.delay_s)
            elif state.fault is Fault.HTTP_429:
                body = SimResponse.json({"error": "rate limited"}, 429)
                body.headers["Retry-After"] = f"{state.retry_after_s:g}"
                return body
            elif state.fault is Fault.HTTP_500:
                return SimResponse.json({"error": "internal error"}, 500)
        if state is not None and state.fault is Fault.ABSURD:
            request = dataclasses.replace(request, absurd=True)
        route = self.routes.get((request.method, request.path))
        if route is None:
            known = any(path == request.path for _m, path in self.routes)
            status = 405 if known else 404
            return SimResponse.json({"error": REASONS[status]}, status)
        try:
            response = route(request)
        except Exception:  # a simulator bug must show as a 500, not kill the connection
            log.exception("%s simulator failed on %s", self.name, request.path)
            return SimResponse.json({"error": "simulator error"}, 500)
        if state is not None and state.fault is Fault.MALFORMED:
            response = SimResponse(200, response.body[: max(1, len(response.body) // 2)])
        return response

    def _control_request(self, request: SimRequest) -> SimResponse:
        """`POST {"fault": "http_500", "count": 3, "delay_s": 2, "retry_after_s": 30}`,
        `DELETE` to clear, `GET` to read: the fault switch of a running demo, loopback only."""
        if request.method == "DELETE":
            self.clear_fault()
        elif request.method == "POST":
            try:
                spec = request.json()
                self.set_fault(
                    spec["fault"],
                    count=spec.get("count"),
                    delay_s=float(spec.get("delay_s", 3.0)),
                    retry_after_s=float(spec.get("retry_after_s", 30.0)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                known = ", ".join(f.value for f in Fault)
                return SimResponse.json({"error": f"bad fault ({exc}); one of: {known}"}, 400)
        elif request.method != "GET":
            return SimResponse.json({"error": REASONS[405]}, 405)
        return SimResponse.json({"provider": self.name, "fault": self.fault})


async def read_request(reader: asyncio.StreamReader) -> SimRequest | None:
    """One request off the stream (None at a clean end); ValueError when it is malformed or
    over the bounds."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise ValueError("header too large") from None
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY_BYTES:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return SimRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, body)


def encode_response(response: SimResponse, keep_alive: bool, server: str | None = None) -> bytes:
    reason = REASONS.get(response.status, "Unknown")
    head = [
        f"HTTP/1.1 {response.status} {reason}",
        *([f"Server: {server}"] if server else []),
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{key}: {value}" for key, value in response.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body
