"""Async CGMiner RPC client: one request per TCP connection, bounded in time and size.

cgminer serves one request per connection (a single ``recv``, reply, close), so we
send the whole request in one write and read to EOF. Every step has a deadline: a
miner that accepts and never answers costs one ``read_timeout``, never a stuck task,
and sockets are closed (aborted on failure) in ``finally``.

``poll()`` is what the fleet scheduler calls: it never raises for network or protocol
problems and always returns a ``MinerSnapshot``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import suppress
from typing import Any

from backend.core.miner_config import DEFAULT_PORT
from backend.fleet import transport
from backend.fleet.codec import (
    MAX_REPLY_BYTES,
    CgminerCommandError,
    CgminerError,
    CgminerProtocolError,
    Status,
    check_status,
    decode_reply,
    encode_request,
    escape_parameter,
    join_commands,
    joined_parts,
    parse_status,
)
from backend.fleet.normalize import (
    FAMILY_EXTRA_COMMANDS,
    MinerSnapshot,
    Replies,
    detect_family,
)
from backend.fleet.shape_reader import read_snapshot

# What a started ``multi`` ends with: every part, the failure, or the rest of the work.
MultiOutcome = (
    dict[str, dict[str, Any]] | Exception | Coroutine[Any, Any, dict[str, dict[str, Any]]]
)

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 3.0
DEFAULT_MAX_REPLY_BYTES = MAX_REPLY_BYTES  # one limit: the read stops where decoding refuses
POLL_COMMANDS: tuple[str, ...] = ("version", "summary", "pools", "stats", "devs")
# The first request to a miner of unknown firmware: the poll plus ``devdetails``, a standard
# cgminer report every family answers inside a join and the Whatsminer and Braiins readings
# need (asking it here saves each Whatsminer a connection on first contact). Only a family
# that reads it keeps its reply (see ``first_contact``).
FIRST_CONTACT: tuple[str, ...] = (*POLL_COMMANDS, "devdetails")
# Real replies are under 20 KiB. Repairing a hostile 1 MiB one can take a second of CPU, which
# a worker thread spends without stalling the event loop (the GIL still lets the loop run).
THREAD_DECODE_BYTES = 128 * 1024

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


class CgminerConnectionError(CgminerError):
    """Network-level failure; ``offline`` is True when we never reached the API."""

    def __init__(self, message: str, *, offline: bool) -> None:
        self.offline = offline
        super().__init__(message)


class CgminerTimeoutError(CgminerConnectionError):
    """A connect or read deadline expired."""


class CgminerClient:
    """Talks to one miner's API port. Cheap to create; holds no open socket."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        text_mode: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_reply_bytes = max_reply_bytes
        self.text_mode = text_mode
        # Command sets this miner refused to join (e.g. Whatsminer get_*): asked one by one
        # from then on. Keep one client per miner to benefit across polls.
        self.refused_joins: set[frozenset[str]] = set()
        self._family = transport.ip_family(host)

    def __repr__(self) -> str:
        return f"CgminerClient({self.host!r}, {self.port})"

    # ------------------------------------------------------------------ transport

    async def request_raw(self, payload: bytes) -> bytes:
        """Send ``payload`` on a fresh connection and return the bytes until EOF."""
        loop = asyncio.get_running_loop()
        if not transport.supported(loop):
            return await self._request_raw_streams(payload)
        if self._family is not None:  # an address literal: nothing to resolve
            address: tuple[Any, ...] = (self.host, self.port)
            family = self._family
        else:
            address, family = await self._resolve()
        try:
            return await transport.exchange(
                address,
                family,
                payload,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                max_bytes=self.max_reply_bytes,
            )
        except transport.ExchangeError as exc:
            return self._exchange_failed(exc)

    async def _resolve(self) -> tuple[tuple[Any, ...], int]:
        """The socket address to dial: address literals as they are, names through DNS."""
        family = transport.ip_family(self.host)
        if family is not None:
            return (self.host, self.port), family
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise CgminerTimeoutError(
                f"timeout after {float(self.connect_timeout)}s connecting", offline=True
            ) from None
        except socket.gaierror as exc:
            raise CgminerConnectionError(
                f"cannot resolve host {self.host!r} ({exc.strerror})", offline=False
            ) from None
        if not infos:
            raise CgminerConnectionError(f"cannot resolve host {self.host!r}", offline=False)
        fam, _type, _proto, _name, sockaddr = infos[0]
        return tuple(sockaddr), fam

    def _exchange_failed(self, exc: transport.ExchangeError) -> bytes:
        """Map a transport failure to this client's errors (same words as the streams path)."""
        strerror = (exc.err.strerror if exc.err is not None else None) or str(exc.err or "")
        if exc.phase == "connect":
            if exc.kind == "timeout":
                raise CgminerTimeoutError(
                    f"timeout after {float(self.connect_timeout)}s connecting", offline=True
                ) from None
            if exc.kind == "refused":
                raise CgminerConnectionError("connection refused", offline=True) from None
            offline = exc.err is not None and exc.err.errno in _UNREACHABLE
            raise CgminerConnectionError(f"cannot connect: {strerror}", offline=offline) from None
        partial = exc.partial
        if exc.kind == "too_large":
            raise CgminerProtocolError(
                f"reply larger than {self.max_reply_bytes} bytes", partial[:200]
            )
        if exc.kind in ("timeout", "reset") and partial and _decodes(partial, self.max_reply_bytes):
            return partial  # a complete reply; the miner just did not close (or reset)
        if exc.kind == "timeout":
            got = f" (got {len(partial)} bytes)" if partial else ""
            raise CgminerTimeoutError(
                f"timeout after {float(self.read_timeout)}s reading reply{got}", offline=False
            ) from None
        if exc.kind == "reset":
            raise CgminerConnectionError("connection reset", offline=False) from None
        raise CgminerConnectionError(f"socket error: {strerror}", offline=False) from None

    async def _request_raw_streams(self, payload: bytes) -> bytes:
        """The same exchange through asyncio streams, for loops without add_reader."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise CgminerTimeoutError(
                f"timeout after {float(self.connect_timeout)}s connecting", offline=True
            ) from None
        except ConnectionRefusedError:
            raise CgminerConnectionError("connection refused", offline=True) from None
        except socket.gaierror as exc:
            raise CgminerConnectionError(
                f"cannot resolve host {self.host!r} ({exc.strerror})", offline=False
            ) from None
        except OSError as exc:
            offline = exc.errno in _UNREACHABLE
            raise CgminerConnectionError(
                f"cannot connect: {exc.strerror or exc}", offline=offline
            ) from None

        buffer = bytearray()
        clean = False
        try:
            try:
                async with asyncio.timeout(self.read_timeout):
                    writer.write(payload)
                    await writer.drain()
                    await self._read_until_eof(reader, buffer)
            except TimeoutError:
                if buffer and _decodes(buffer, self.max_reply_bytes):
                    clean = True  # complete reply, the miner just did not close
                    return bytes(buffer)
                got = f" (got {len(buffer)} bytes)" if buffer else ""
                raise CgminerTimeoutError(
                    f"timeout after {float(self.read_timeout)}s reading reply{got}", offline=False
                ) from None
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                if buffer and _decodes(buffer, self.max_reply_bytes):
                    return bytes(buffer)
                raise CgminerConnectionError("connection reset", offline=False) from None
            except OSError as exc:
                raise CgminerConnectionError(
                    f"socket error: {exc.strerror or exc}", offline=False
                ) from None
            clean = True
            return bytes(buffer)
        finally:
            await _close(writer, clean)

    async def _read_until_eof(self, reader: asyncio.StreamReader, buffer: bytearray) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            if len(buffer) > self.max_reply_bytes:
                raise CgminerProtocolError(
                    f"reply larger than {self.max_reply_bytes} bytes", bytes(buffer[:200])
                )
            if buffer.endswith(b"\x00"):
                return  # cgminer terminates every reply with a NUL

    async def request(self, command: str, parameter: object | None = None) -> dict[str, Any]:
        """One command, decoded but not status-checked (error replies are returned)."""
        payload = encode_request(command, parameter, text=self.text_mode)
        return await self._decoded(await self.request_raw(payload), command)

    async def _decoded(self, raw: bytes, command: str) -> dict[str, Any]:
        if len(raw) > THREAD_DECODE_BYTES:  # only a hostile or broken miner: parse off the loop
            return await asyncio.to_thread(self._decode, raw, command)
        return self._decode(raw, command)

    def _decode(self, raw: bytes, command: str) -> dict[str, Any]:
        if not raw.strip(b"\x00 \r\n\t"):
            raise CgminerProtocolError("empty reply (miner closed the connection)")
        shape = None if "+" in command else command
        return decode_reply(raw, shape, max_bytes=self.max_reply_bytes)

    # ------------------------------------------------------------------ commands

    async def command(self, command: str, parameter: object | None = None) -> dict[str, Any]:
        """One command; raises CgminerCommandError if the STATUS is E/F."""
        reply = await self.request(command, parameter)
        check_status(reply, command)
        return reply

    async def multi(self, commands: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Several report commands, joined with ``+`` when the firmware allows it.

        Falls back to one request per command when the join is refused (code 14, e.g.
        Whatsminer with ``get_*``/``status``) or answered with a non-joined reply. Error
        parts are kept as replies (check them with ``codec.parse_status``).
        """
        wanted = list(dict.fromkeys(commands))
        if not wanted:
            return {}
        if len(wanted) == 1 or frozenset(wanted) in self.refused_joins:
            return await self._separately(wanted)
        return await self._joined(wanted, await self.request(join_commands(wanted)))

    def start_multi(
        self, commands: Sequence[str], on_done: Callable[[MultiOutcome], None]
    ) -> transport.Exchange | None:
        """``multi`` for a joined request, driven by the transport's completion callback: no
        task or future for the common case, a whole reply read as it arrives.

        ``on_done`` gets every part, the error ``multi`` would raise, or (when more requests
        are needed, or a hostile reply must be parsed off the loop) a coroutine that finishes
        the work; it may be called before this returns. None, and ``on_done`` is never
        called, when this client cannot start it here (a host name to resolve, a loop without
        epoll, a join this miner refused, one command): use ``multi``. ``abandon()`` on the
        exchange returned resets it, and ``on_done`` is not called.
        """
        wanted = list(dict.fromkeys(commands))
        if (
            self._family is None
            or len(wanted) < 2
            or frozenset(wanted) in self.refused_joins
            or not transport.supported(asyncio.get_running_loop())
        ):
            return None
        command = join_commands(wanted)

        def finished(outcome: transport.Outcome) -> None:
            try:
                settled = self._settle(wanted, command, outcome)
            except Exception as exc:
                settled = exc
            on_done(settled)

        return transport.start(
            (self.host, self.port),
            self._family,
            _payload(command, self.text_mode),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_bytes=self.max_reply_bytes,
            on_done=finished,
        )

    def _settle(self, wanted: list[str], command: str, outcome: transport.Outcome) -> MultiOutcome:
        try:
            raw = (
                self._exchange_failed(outcome)
                if isinstance(outcome, transport.ExchangeError)
                else outcome
            )
            if len(raw) > THREAD_DECODE_BYTES:
                return self._joined_raw(wanted, command, raw)
            reply = self._decode(raw, command)
            parts, rest = self._join_result(wanted, reply)
        except CgminerError as exc:
            return exc
        if rest:
            return self._completed(wanted, parts, rest)
        return {c: parts[c] for c in wanted}

    async def _joined_raw(
        self, wanted: list[str], command: str, raw: bytes
    ) -> dict[str, dict[str, Any]]:
        return await self._joined(wanted, await self._decoded(raw, command))

    async def _joined(self, wanted: list[str], reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``wanted``'s replies from a joined reply, asking one by one what it lacks."""
        return await self._completed(wanted, *self._join_result(wanted, reply))

    async def _completed(
        self, wanted: list[str], parts: dict[str, dict[str, Any]], rest: list[str]
    ) -> dict[str, dict[str, Any]]:
        if rest:
            parts.update(await self._separately(rest))
        return {c: parts[c] for c in wanted}

    def _join_result(
        self, wanted: list[str], reply: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The parts a joined reply holds, and the commands still to ask one by one."""
        parts = joined_parts(reply)
        if parts is not None:
            return parts, [c for c in wanted if c not in parts]
        # Refused (code 14 on cgminer/Whatsminer) or answered as a single command:
        # this firmware cannot join these commands, so ask one at a time from now on.
        parse_status(reply)  # a reply without any STATUS is a protocol error, not a refusal
        self.refused_joins.add(frozenset(wanted))
        return {}, wanted

    async def _separately(self, commands: Iterable[str]) -> dict[str, dict[str, Any]]:
        # Sequential on purpose: miner API servers handle one connection at a time.
        return {c: await self.request(c) for c in commands}

    # ------------------------------------------------------------------ privileged

    async def privileged(self, command: str, parameter: object | None = None) -> Status:
        """Run a privileged command; code 45 -> 'access denied (miner API is read-only...)'."""
        return check_status(await self.request(command, parameter), command)

    async def restart(self) -> Status:
        """Restart the miner software; it goes offline for a while, uptime resets."""
        return await self.privileged("restart")

    async def switch_pool(self, pool_id: int) -> Status:
        return await self.privileged("switchpool", int(pool_id))

    async def enable_pool(self, pool_id: int) -> Status:
        return await self.privileged("enablepool", int(pool_id))

    async def disable_pool(self, pool_id: int) -> Status:
        return await self.privileged("disablepool", int(pool_id))

    async def remove_pool(self, pool_id: int) -> Status:
        return await self.privileged("removepool", int(pool_id))

    async def add_pool(self, url: str, user: str, password: str = "x") -> Status:
        fields = (escape_parameter(url), escape_parameter(user), escape_parameter(password))
        return await self.privileged("addpool", ",".join(fields))

    async def set_sleep(self, sleeping: bool, device: int = 0) -> Status:
        """``ascset|N,sleep`` / ``ascset|N,wake``: only some firmwares implement it
        (others answer code 14, raised as CgminerCommandError)."""
        return await self.privileged("ascset", f"{int(device)},{'sleep' if sleeping else 'wake'}")

    async def check_privileged(self) -> bool:
        """True when this host may run privileged commands (cgminer ``privileged``)."""
        try:
            await self.privileged("privileged")
        except CgminerCommandError:
            return False
        return True


@functools.lru_cache(maxsize=64)
def _payload(command: str, text: bool) -> bytes:
    """A joined request's bytes: the same few plans every sweep, encoded once each."""
    return encode_request(command, None, text=text)


def _decodes(buffer: bytes | bytearray, max_bytes: int) -> bool:
    try:
        decode_reply(bytes(buffer), max_bytes=max_bytes)
    except CgminerProtocolError:
        return False
    return True


async def _close(writer: asyncio.StreamWriter, clean: bool) -> None:
    if not clean:
        writer.transport.abort()
        return
    writer.close()
    with suppress(Exception):
        async with asyncio.timeout(0.5):
            await writer.wait_closed()


# ---------------------------------------------------------------------- polling


async def poll(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    client: CgminerClient | None = None,
) -> MinerSnapshot:
    """Poll one miner into a snapshot; never raises for network/protocol problems.

    Connect refused/timeout/unreachable -> status 'offline'; anything after the connect
    (read timeout, reset, malformed bytes, error replies) -> status 'error'. ``error``
    always says what happened in plain words.
    """
    client = client or CgminerClient(
        host,
        port,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_reply_bytes=max_reply_bytes,
    )
    try:
        replies, _family = await first_contact(client)
    except CgminerError as exc:
        return snapshot_for_error(exc)
    return read_snapshot(replies)


async def first_contact(client: CgminerClient) -> tuple[dict[str, Any], str]:
    """A miner of unknown firmware: its replies to ``POLL_COMMANDS`` and its family's extra
    commands (as ``poll`` reads them), and the family they show.

    Two requests at most for any family we know. Extras are nice-to-have (fans, temps,
    firmware): a failure keeps the base data. Raises only for the first request.
    """
    replies = await client.multi(FIRST_CONTACT)
    family = detect_family(Replies(replies))
    extra = FAMILY_EXTRA_COMMANDS.get(family, ())
    missing = [c for c in extra if c not in replies]
    if missing:
        with suppress(CgminerError):
            replies.update(await _extras(client, missing))
    # The poll's replies, then the extras', as if asked in that order: a reply asked only to
    # learn the family (devdetails of a family that does not read it) is left out.
    wanted = (*POLL_COMMANDS, *extra)
    return {c: replies[c] for c in wanted if c in replies}, family


async def _extras(client: CgminerClient, commands: Sequence[str]) -> dict[str, Any]:
    """A family's extra commands in as few requests as it accepts: Whatsminer refuses to join
    ``get_*``/``status`` with anything (code 14), so those go alone without a refused join
    first (a connection per Whatsminer saved in the first sweep). Same replies, same order."""
    alone = [c for c in commands if c.startswith("get_") or c == "status"]
    joined = [c for c in commands if c not in alone]
    got: dict[str, Any] = await client.multi(joined) if joined else {}
    for command in alone:
        got.update(await client.multi((command,)))
    return {c: got[c] for c in commands}


def snapshot_for_error(exc: CgminerError) -> MinerSnapshot:
    """The snapshot of a failed poll: 'offline' if never reached, else 'error', in plain words."""
    if isinstance(exc, CgminerConnectionError):
        return MinerSnapshot.offline(str(exc)) if exc.offline else MinerSnapshot.failed(str(exc))
    if isinstance(exc, CgminerProtocolError) and not exc.reason.startswith("empty reply"):
        return MinerSnapshot.failed(f"malformed reply: {exc}")
    return MinerSnapshot.failed(str(exc))


async def poll_many(
    targets: Iterable[tuple[str, int]],
    *,
    concurrency: int = 256,
    **options: Any,
) -> list[MinerSnapshot]:
    """Poll many miners with bounded concurrency (each poll costs one socket at a time)."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(host: str, port: int) -> MinerSnapshot:
        async with gate:
            return await poll(host, port, **options)

    return list(await asyncio.gather(*(one(h, p) for h, p in targets)))
