"""One request, one TCP connection, read to EOF: the cgminer exchange on bare non-blocking sockets.

Why not ``asyncio.open_connection``: a 10,000-miner sweep opens 10,000+ connections every
10 s, and streams (reader, writer, protocol, transport, drain, wait_closed) cost several
times the CPU of the exchange itself. Here every exchange in flight shares one epoll set
per event loop; the loop watches that set's descriptor, so an exchange costs no asyncio
handle, selector key or timer of its own. The request goes out right after ``connect``
when the kernel has already completed the handshake (always the case on loopback, where
the simulated fleet lives), otherwise when the socket turns writable. Deadlines are checked
every ``TICK_S``, so they fire up to that much late. ``start`` hands the outcome to a
callback (the poller's sweep: no future, task or coroutine frame an exchange);
``exchange`` is the same as a coroutine.

Semantics are the streams client's: the connect and the reply each have a deadline; the
reply ends at EOF or at cgminer's trailing NUL; a failure says which phase failed and hands
back what was read so far.

Needs epoll and a selector event loop (Linux); ``supported()`` says so, and the client falls
back to streams elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import select
import socket
import struct
import weakref
from collections.abc import Callable
from typing import Literal

Phase = Literal["connect", "read"]
TICK_S = 0.1
_LINGER_RST = struct.pack("ii", 1, 0)
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 0}
_RECV_BYTES = 65_536
_STREAM_NONBLOCK = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
_EPOLL = getattr(select, "epoll", None)
_EPOLLIN = getattr(select, "EPOLLIN", 0)
_EPOLLOUT = getattr(select, "EPOLLOUT", 0)


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
    """Whether this loop can drive exchanges here (epoll + a selector loop: Linux)."""
    return _EPOLL is not None and isinstance(loop, asyncio.SelectorEventLoop)


def ip_family(host: str) -> int | None:
    """AF_INET/AF_INET6 for an address literal, None for a host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


class _Mux:
    """Every exchange in flight on one event loop, in one level-triggered epoll set."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        assert _EPOLL is not None
        # A proxy, so the registry's entry (value -> loop) does not keep a finished loop
        # alive: when the loop goes, so do this mux and its epoll descriptor.
        self.loop: asyncio.AbstractEventLoop = weakref.proxy(loop)
        self.epoll = _EPOLL()
        self.active: dict[int, Exchange] = {}
        self.ticker: asyncio.TimerHandle | None = None
        loop.add_reader(self.epoll.fileno(), self._dispatch)

    def watch(self, state: Exchange, mask: int) -> None:
        if state.fd in self.active:
            self.epoll.modify(state.fd, mask)
        else:
            self.epoll.register(state.fd, mask)
            self.active[state.fd] = state
            if self.ticker is None:
                self.ticker = self.loop.call_later(TICK_S, self._tick)

    def forget(self, state: Exchange) -> None:
        """Stop dispatching to ``state``; its socket is closed right after, which also
        takes the descriptor out of the epoll set (so no ``unregister`` call)."""
        if self.active.get(state.fd) is state:
            del self.active[state.fd]

    def _dispatch(self) -> None:
        try:
            events = self.epoll.poll(0)
        except InterruptedError:
            return
        active = self.active
        for fd, _mask in events:
            state = active.get(fd)
            if state is not None:
                state.on_event()

    def _tick(self) -> None:
        self.ticker = None
        now = self.loop.time()
        for state in [s for s in self.active.values() if s.deadline <= now]:
            state.on_timeout()
        if self.active:
            self.ticker = self.loop.call_later(TICK_S, self._tick)


_MUXES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mux] = weakref.WeakKeyDictionary()


def _mux(loop: asyncio.AbstractEventLoop) -> _Mux:
    mux = _MUXES.get(loop)
    if mux is None:
        mux = _MUXES[loop] = _Mux(loop)
    return mux


# What an exchange ends with: the reply's bytes, or the failure.
Outcome = bytes | ExchangeError


class Exchange:
    """The state machine of one exchange, driven by the mux's epoll events; ``on_done`` is
    called once, with the outcome, from the event loop."""

    __slots__ = (
        "buffer",
        "deadline",
        "fd",
        "max_bytes",
        "mux",
        "on_done",
        "payload",
        "phase",
        "read_timeout",
        "sock",
    )

    def __init__(
        self,
        mux: _Mux,
        sock: socket.socket,
        payload: bytes,
        max_bytes: int,
        read_timeout: float,
        on_done: Callable[[Outcome], None],
    ) -> None:
        self.mux = mux
        self.sock = sock
        self.fd = sock.fileno()
        self.payload = payload
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.buffer = bytearray()
        self.on_done: Callable[[Outcome], None] | None = on_done
        self.phase: Phase = "connect"
        self.deadline = 0.0

    def start(self, connect_timeout: float) -> None:
        """Connect started: send now if the handshake is already done, else when writable."""
        try:
            sent = self.sock.send(self.payload)
        except BlockingIOError:
            self.deadline = self.mux.loop.time() + connect_timeout
            self.mux.watch(self, _EPOLLOUT)
            return
        except OSError as exc:  # e.g. refused: the connect failed
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or exc.errno
            self._fail(_kind(err), OSError(err, _strerror(err or 0)))
            return
        self._connected()
        self._sent(sent)

    def on_event(self) -> None:
        if self.phase == "connect":
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(_kind(err), OSError(err, _strerror(err)))
                return
            self._connected()
        if not self.payload:
            self._on_readable()
            return
        try:
            sent = self.sock.send(self.payload)
        except BlockingIOError:
            return  # not writable after all: wait for the next event
        except OSError as exc:
            self._fail(_kind(exc.errno), exc)
            return
        self._sent(sent)

    def _connected(self) -> None:
        """From here on, the reply's deadline (it covers sending the request too)."""
        self.phase = "read"
        self.deadline = self.mux.loop.time() + self.read_timeout

    def _sent(self, count: int) -> None:
        # Requests are tiny (< 100 bytes): a fresh socket's buffer takes them whole, but a
        # short send is still finished when the socket is writable again.
        self.payload = self.payload[count:]
        self.mux.watch(self, _EPOLLOUT if self.payload else _EPOLLIN)

    def _on_readable(self) -> None:
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
        self._fail("timeout")

    # -- outcome -----------------------------------------------------------------------------

    def _finish(self) -> None:
        self._done(bytes(self.buffer), clean=True)

    def _fail(self, kind: str, err: OSError | None = None) -> None:
        self._done(ExchangeError(self.phase, kind, bytes(self.buffer), err), clean=False)

    def _done(self, outcome: Outcome, *, clean: bool) -> None:
        self.close(clean=clean)
        on_done, self.on_done = self.on_done, None
        if on_done is not None:
            on_done(outcome)

    @property
    def finished(self) -> bool:
        """Its outcome was handed over, or it was abandoned."""
        return self.on_done is None

    def abandon(self) -> None:
        """Stop the exchange without an outcome (its caller went away): reset the connection."""
        self.on_done = None
        self.close(clean=False)

    def close(self, *, clean: bool) -> None:
        """Release the socket; ``clean=False`` resets the connection (RST) instead of a FIN."""
        if self.fd < 0:
            return
        self.mux.forget(self)
        self.fd = -1
        if not clean:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.sock.close()


def start(
    address: tuple[str, int] | tuple[str, int, int, int],
    family: int,
    payload: bytes,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
    on_done: Callable[[Outcome], None],
) -> Exchange:
    """Connect to ``address`` (already resolved) and send ``payload``; ``on_done`` gets the
    bytes read, or an ``ExchangeError`` (its ``partial`` holds the bytes received on a read
    failure, so the caller may still accept a complete reply from a miner that did not close).

    Runs on the event loop; no task, no future: a sweep's thousands of exchanges are driven by
    the mux's epoll events alone. ``on_done`` may run before this returns (a connect refused at
    once). ``abandon()`` on the exchange returned resets it if it is still running.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, _STREAM_NONBLOCK)  # non-blocking from birth: no fcntl calls
    if _STREAM_NONBLOCK == socket.SOCK_STREAM:
        sock.setblocking(False)
    state = Exchange(_mux(loop), sock, payload, max_bytes, read_timeout, on_done)
    try:
        err = sock.connect_ex(address)
    except BaseException:
        state.abandon()
        raise
    if err not in _IN_PROGRESS:
        state._done(
            ExchangeError("connect", _kind(err), err=OSError(err, _strerror(err))), clean=False
        )
        return state
    state.start(connect_timeout)
    return state


async def exchange(
    address: tuple[str, int] | tuple[str, int, int, int],
    family: int,
    payload: bytes,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> bytes:
    """``start`` as a coroutine: the bytes read, or ``ExchangeError`` raised. A cancelled
    exchange is reset."""
    done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def settle(outcome: Outcome) -> None:
        if done.done():
            return
        if isinstance(outcome, ExchangeError):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    state = start(
        address,
        family,
        payload,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_bytes=max_bytes,
        on_done=settle,
    )
    try:
        return await done
    finally:
        state.abandon()  # no-op once finished


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
