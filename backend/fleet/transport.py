"""One request, one TCP connection, read to EOF: the cgminer exchange on bare non-blocking sockets.

Why not ``asyncio.open_connection``: a 10,000-miner sweep opens 10,000+ connections every
10 s, and streams (reader, writer, protocol, transport, drain, wait_closed) cost ~450 µs of
CPU per exchange here, against ~230 µs for a socket driven by ``add_writer``/``add_reader``
callbacks and one future. Semantics are the streams client's: the connect and the reply each
have a deadline; the reply ends at EOF or at cgminer's trailing NUL; a failure says which
phase failed and hands back what was read so far.

Needs a selector event loop (the default on Linux and macOS); ``supported()`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
from typing import Literal

Phase = Literal["connect", "read"]
_LINGER_RST = struct.pack("ii", 1, 0)
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 0}
_RECV_BYTES = 262_144


class ExchangeError(Exception):
    """An exchange failed; ``kind`` is timeout, refused, reset, oserror or too_large."""

    def __init__(
        self, phase: Phase, kind: str, partial: bytes = b"", err: OSError | None = None
    ) -> None:
        self.phase = phase
        self.kind = kind
        self.partial = partial
        self.err = err
        super().__init__(f"{phase} {kind}")


def supported(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this loop offers add_reader/add_writer (the proactor loop on Windows does not)."""
    return isinstance(loop, asyncio.SelectorEventLoop)


def ip_family(host: str) -> int | None:
    """AF_INET/AF_INET6 for an address literal, None for a host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


class _Exchange:
    """The state machine of one exchange, driven by selector callbacks."""

    __slots__ = (
        "buffer",
        "done",
        "fd",
        "loop",
        "max_bytes",
        "payload",
        "phase",
        "read_timeout",
        "sock",
        "timer",
        "watching",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        payload: bytes,
        max_bytes: int,
        read_timeout: float,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.payload = payload
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.buffer = bytearray()
        self.done: asyncio.Future[None] = loop.create_future()
        self.phase: Phase = "connect"
        self.timer: asyncio.TimerHandle | None = None
        self.watching: Literal["", "r", "w"] = ""

    # -- callbacks ---------------------------------------------------------------------------

    def on_writable(self) -> None:
        self._unwatch()
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(_kind(err), OSError(err, _strerror(err)))
            return
        self.start_reading()

    def start_reading(self) -> None:
        """Connected: send the request and give the reply its own deadline."""
        self.phase = "read"
        self.arm(self.read_timeout)
        try:
            sent = self.sock.send(self.payload)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._fail(_kind(exc.errno), exc)
            return
        if sent < len(self.payload):  # requests are tiny; a short send is near impossible
            try:
                self.sock.setblocking(True)
                self.sock.sendall(self.payload[sent:])
            except OSError as exc:
                self._fail(_kind(exc.errno), exc)
                return
            finally:
                self.sock.setblocking(False)
        self.loop.add_reader(self.fd, self.on_readable)
        self.watching = "r"

    def on_readable(self) -> None:
        try:
            chunk = self.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(_kind(exc.errno), exc)
            return
        if not chunk:
            self._finish()
            return
        self.buffer += chunk
        if len(self.buffer) > self.max_bytes:
            self._fail("too_large")
        elif chunk[-1] == 0:  # cgminer terminates every reply with a NUL
            self._finish()

    def on_timeout(self) -> None:
        self.timer = None
        self._fail("timeout")

    # -- outcome -----------------------------------------------------------------------------

    def _finish(self) -> None:
        self._unwatch()
        if not self.done.done():
            self.done.set_result(None)

    def _fail(self, kind: str, err: OSError | None = None) -> None:
        self._unwatch()
        if not self.done.done():
            self.done.set_exception(ExchangeError(self.phase, kind, bytes(self.buffer), err))

    def _unwatch(self) -> None:
        if self.watching == "r":
            self.loop.remove_reader(self.fd)
        elif self.watching == "w":
            self.loop.remove_writer(self.fd)
        self.watching = ""

    def arm(self, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(seconds, self.on_timeout)

    def close(self, *, clean: bool) -> None:
        """Release everything; ``clean=False`` resets the connection (RST) instead of a FIN."""
        self._unwatch()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not clean:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.sock.close()


async def exchange(
    address: tuple[str, int] | tuple[str, int, int, int],
    family: int,
    payload: bytes,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> bytes:
    """Connect to ``address`` (already resolved), send ``payload``, return the bytes read.

    Raises ``ExchangeError``; on a read failure ``partial`` holds the bytes received, so
    the caller may still accept a complete reply from a miner that did not close.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    state = _Exchange(loop, sock, payload, max_bytes, read_timeout)
    clean = False
    try:
        err = sock.connect_ex(address)
        if err not in _IN_PROGRESS:
            raise ExchangeError("connect", _kind(err), err=OSError(err, _strerror(err)))
        if err == 0:
            state.start_reading()
        else:
            loop.add_writer(state.fd, state.on_writable)
            state.watching = "w"
            state.arm(connect_timeout)
        await state.done
        clean = True
        return bytes(state.buffer)
    finally:
        state.close(clean=clean)


def _kind(err: int | None) -> str:
    if err == errno.ECONNREFUSED:
        return "refused"
    if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset"
    if err == errno.ETIMEDOUT:
        return "timeout"
    return "oserror"


def _strerror(err: int) -> str:
    try:
        return os.strerror(err)
    except ValueError:
        return f"error {err}"
