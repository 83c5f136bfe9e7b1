"""Raw-socket serving for the simulated fleet: one listener per miner, no task per connection.

Why not ``asyncio.start_server``: a 10,000-miner sweep is 10,000 connections in a few
seconds, and streams (protocol, reader, writer, handler task, ``wait_for`` task) cost more
CPU per connection than rendering the reply. Here a connection is one small object driven
by selector callbacks: accept, read the one request, answer, close. The simulator shares
the machine with the client it serves, so every microsecond saved here is the client's.

cgminer semantics: one request per connection; the reply is sent and the socket closed
(a FIN after the data). Faults need three more endings: hold the connection open until the
peer leaves (hang), answer later (slow) and reset (RST).

Needs a selector event loop (the default on Linux and macOS).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Callable

REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 10.0
_LINGER_RST = struct.pack("ii", 1, 0)
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Connection:
    """One accepted connection: read the request, then answer, hold, or reset."""

    __slots__ = ("fd", "holding", "loop", "on_request", "out", "registry", "sock", "timer", "watch")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_request: Callable[[Connection, bytes], None],
        registry: set[Connection],
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.on_request = on_request
        self.registry = registry
        self.timer: asyncio.TimerHandle | None = None
        self.watch = ""  # "r", "w" or ""
        self.holding = False
        self.out = b""

    def start(self) -> None:
        """Read the request now if it is already here (often), else when it arrives."""
        self.registry.add(self)
        self._read(first=True)

    def _read(self, *, first: bool = False) -> None:
        try:
            data = self.sock.recv(REQUEST_BYTES)
        except (BlockingIOError, InterruptedError):
            if first:
                self._watch("r")
                self.later(REQUEST_TIMEOUT_S, self.close)
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
        elif not self.holding:  # while holding, whatever the peer sends is discarded
            self._unwatch()
            self._cancel_timer()
            self.on_request(self, data)

    def hold(self) -> None:
        """Keep the connection open, reading and discarding, until the peer closes it."""
        self.holding = True
        self._watch("r")

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay`` unless the connection is closed first."""
        self._cancel_timer()
        self.timer = self.loop.call_later(delay, self._fire, action)

    def _fire(self, action: Callable[[], None]) -> None:
        self.timer = None
        action()

    def send_and_close(self, data: bytes) -> None:
        """Send ``data``, then close (FIN after the data, as cgminer does)."""
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        if sent >= len(data):
            self.close()
            return
        self.out = data[sent:]  # a large reply on a full socket buffer: the rest when writable
        self._watch("w")

    def _write_more(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self.out = self.out[sent:]
        if not self.out:
            self.close()

    def reset(self) -> None:
        """Abortive close: the peer sees a connection reset."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.close()

    def close(self) -> None:
        if self.fd < 0:
            return
        self._unwatch()
        self._cancel_timer()
        self.sock.close()
        self.fd = -1
        self.registry.discard(self)

    def _watch(self, kind: str) -> None:
        if self.watch == kind:
            return
        self._unwatch()
        if kind == "r":
            self.loop.add_reader(self.fd, self._read)
        else:
            self.loop.add_writer(self.fd, self._write_more)
        self.watch = kind

    def _unwatch(self) -> None:
        if self.watch == "r":
            self.loop.remove_reader(self.fd)
        elif self.watch == "w":
            self.loop.remove_writer(self.fd)
        self.watch = ""

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Listener:
    """A listening socket that hands each accepted connection to ``on_accept``."""

    def __init__(
        self,
        host: str,
        port: int,
        on_accept: Callable[[socket.socket, str], None],
        *,
        backlog: int = 128,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        if not isinstance(self.loop, asyncio.SelectorEventLoop):
            raise RuntimeError("the fleet simulator needs a selector event loop")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.family = family
        self.port: int = sock.getsockname()[1]
        self.on_accept = on_accept
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        # One accept per readiness event: each miner sees about one connection per sweep,
        # so draining the backlog would mostly cost a failed accept (and an exception).
        try:
            # The C-level accept: socket.accept() spends more on turning family and type
            # into enums for the new object than the accept itself costs.
            fd, peer = self.sock._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:  # back off instead of spinning on the backlog
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(1.0, self._resume)
            return
        conn = socket.socket(self.family, socket.SOCK_STREAM, 0, fd)
        conn.setblocking(False)
        self.on_accept(conn, peer[0] if peer else "127.0.0.1")

    def _resume(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
