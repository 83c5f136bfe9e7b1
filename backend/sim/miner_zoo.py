"""A zoo of broken and hostile "miners" on loopback: every way a reply on port 4028 goes wrong.

Anything that answers on a miner's API port can reach the backend, so each variant here is
one such answer: impossible readings inside a well-formed cgminer reply (negative, NaN,
``"abc"``, a 5,000-digit number, absurd sizes), broken JSON (nested 100,000 deep,
truncated, not cgminer's shape), broken transport (50 MB, one byte a second, silence,
binary noise, a reset, a reply that never ends the connection). Tests point the real poller
and ``hashinsight serve`` at it; the product must stay up and name each problem plainly.

The well-formed replies come from the fleet simulator's cgminer renderer (``SimMiner``), so
the zoo speaks the same wire format as ``backend.sim.fleet``: JSON request, NUL-terminated
JSON reply, one request per connection. Each variant is its own asyncio TCP server on its
own loopback address (127.77.0.1, 127.77.0.2, ...; Linux routes all of 127/8 to ``lo``)
sharing one port picked by the kernel, or with ``use_ports`` on 127.0.0.1 with a port each.
Nothing is ever bound outside loopback.

Run standalone: ``python -m backend.sim.miner_zoo`` prints one ``host:port variant`` line
each and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import json
import random
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

from backend.sim.fleet import FleetSimulator, iter_loopback_addresses

DEFAULT_BASE_IP = "127.77.0.1"
REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 10.0  # a client that connects and never asks
CONNECTION_MAX_S = 120.0  # no connection (a drip, a silence) outlives this
DRIP_INTERVAL_S = 1.0
HUGE_REPLY_BYTES = 50 * 1024 * 1024
NESTING = 100_000
HUGE_DIGITS = 5_000
_CHUNK = 64 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)
_BIND_ATTEMPTS = 8


class Variant(StrEnum):
    """One kind of bad answer; the value is its name in settings and output."""

    DEEP_NESTING = "deep-nesting"
    NEGATIVE = "negative"
    NON_FINITE = "non-finite"
    NOT_A_NUMBER = "not-a-number"
    HUGE_INTEGER = "huge-integer"
    ABSURD = "absurd"
    TRUNCATED = "truncated"
    HUGE_REPLY = "huge-reply"
    SLOW_DRIP = "slow-drip"
    SILENT = "silent"
    BINARY = "binary"
    RESET = "reset"
    NEVER_CLOSING = "never-closing"
    WRONG_SHAPE_OBJECT = "wrong-shape-object"
    WRONG_SHAPE_STRING = "wrong-shape-string"
    WRONG_SHAPE_NUMBER = "wrong-shape-number"
    TOP_LEVEL_LIST = "top-level-list"


class _Raw(str):
    """A JSON token written as is (``NaN``, a 5,000-digit number): json.dumps cannot."""

    __slots__ = ()


# Summary fields each readings variant overrides (the rest of the reply stays sane).
SUMMARY_OVERRIDES: dict[Variant, dict[str, Any]] = {
    Variant.NEGATIVE: {
        "MHS 5s": -5_000_000.0,
        "MHS av": -5_000_000.0,
        "Accepted": -10,
        "Hardware Errors": -1,
        "Elapsed": -60,
    },
    Variant.NON_FINITE: {"MHS 5s": _Raw("NaN"), "MHS av": _Raw("Infinity")},
    Variant.NOT_A_NUMBER: {"GHS 5s": "abc"},
    Variant.HUGE_INTEGER: {"Accepted": _Raw("9" * HUGE_DIGITS)},
    Variant.ABSURD: {"MHS 5s": 2e10, "MHS av": 2e10, "Temperature": 500},  # 20 PH/s, 500 °C
}
_FIXED: dict[Variant, bytes] = {
    Variant.DEEP_NESTING: b"[" * NESTING + b"]" * NESTING + b"\x00",
    Variant.WRONG_SHAPE_OBJECT: b'{"foo":1}\x00',
    Variant.WRONG_SHAPE_STRING: b'"string"\x00',
    Variant.WRONG_SHAPE_NUMBER: b"42\x00",
    Variant.TOP_LEVEL_LIST: b"[1,2,3]\x00",
}


class MinerZoo:
    """Every variant (or the ones asked for) served on loopback; ``async with MinerZoo():``."""

    def __init__(
        self,
        variants: Iterable[Variant | str] | None = None,
        *,
        base_ip: str = DEFAULT_BASE_IP,
        use_ports: bool = False,
        seed: int = 1,
    ) -> None:
        self.variants = [Variant(v) for v in (variants if variants is not None else Variant)]
        if not ipaddress.ip_address(base_ip).is_loopback:
            raise ValueError(f"{base_ip} is not a loopback address: the zoo serves loopback only")
        self.base_ip = base_ip
        self.use_ports = use_ports
        self.addresses: dict[Variant, tuple[str, int]] = {}
        self._binary = _binary_noise(random.Random(seed))
        # Well-formed replies: the fleet simulator's cgminer, never started (rendering only).
        self._renderer = FleetSimulator(1, use_ports=True, families=["cgminer"], seed=seed)
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._servers:
            return
        for attempt in range(_BIND_ATTEMPTS):
            try:
                await self._bind_all()
                return
            except OSError as exc:
                await self._close_servers()
                if exc.errno != errno.EADDRINUSE or attempt == _BIND_ATTEMPTS - 1:
                    raise

    async def _bind_all(self) -> None:
        if self.use_ports:
            hosts = ["127.0.0.1"] * len(self.variants)
        else:
            hosts = list(iter_loopback_addresses(self.base_ip, len(self.variants)))
        port = 0
        for variant, host in zip(self.variants, hosts, strict=True):
            server = await asyncio.start_server(
                lambda r, w, v=variant: self._connection(v, r, w),
                host,
                0 if self.use_ports else port,
                reuse_address=False,
            )
            self._servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            if not self.use_ports:
                port = bound  # every other variant on the same port, its own address
            self.addresses[variant] = (host, bound)

    async def stop(self) -> None:
        await self._close_servers()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        self.addresses.clear()

    async def __aenter__(self) -> MinerZoo:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ Simulator protocol

    def address(self, variant: Variant | str) -> str:
        host, port = self.addresses[Variant(variant)]
        return f"{host}:{port}"

    def describe(self) -> list[str]:
        return [f"{self.address(v):<22} {v.value}" for v in self.addresses]

    def settings_overrides(self) -> dict[str, Any]:
        """Point the product's inventory at every variant."""
        return {"miners": [self.address(v) for v in self.addresses]}

    # ------------------------------------------------------------------ serving

    async def _connection(
        self, variant: Variant, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        clean = True
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                request = await reader.read(REQUEST_BYTES)
            if request:
                async with asyncio.timeout(CONNECTION_MAX_S):
                    clean = await self._answer(variant, request, reader, writer)
        except (TimeoutError, ConnectionError, OSError):
            clean = False
        except asyncio.CancelledError:  # stop(): end quietly (a cancelled connection task
            clean = False  # makes asyncio 3.11's stream callback log an error)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            if clean:
                writer.close()
            else:
                writer.transport.abort()
            # collects a reset's exception too (else asyncio logs it as never retrieved)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _answer(
        self,
        variant: Variant,
        request: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve one request the variant's way; False when the connection should be aborted."""
        fixed = _FIXED.get(variant)
        if fixed is not None:
            return await _send(writer, fixed)
        if variant in SUMMARY_OVERRIDES:
            return await _send(writer, self._render(request, SUMMARY_OVERRIDES[variant]))
        handler = self._handlers().get(variant)
        if handler is None:
            raise AssertionError(f"no behaviour for {variant}")
        return await handler(request, reader, writer)

    def _handlers(
        self,
    ) -> dict[
        Variant,
        Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]],
    ]:
        return {
            Variant.TRUNCATED: self._truncated,
            Variant.HUGE_REPLY: self._huge,
            Variant.SLOW_DRIP: self._drip,
            Variant.SILENT: self._silent,
            Variant.BINARY: self._noise,
            Variant.RESET: self._reset,
            Variant.NEVER_CLOSING: self._never_closing,
        }

    def _render(self, request: bytes, overrides: dict[str, Any] | None = None) -> bytes:
        """The simulator's cgminer reply to ``request``, summary fields overridden."""
        reply, _after = self._renderer.miners[0].respond(request, privileged=False)
        if not overrides:
            return reply
        doc = json.loads(reply.rstrip(b"\x00"))
        for row in _summary_rows(doc):
            row.update(overrides)
        return _dumps(doc) + b"\x00"

    async def _truncated(
        self, request: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = self._render(request).rstrip(b"\x00")
        return await _send(writer, body[: len(body) // 2])

    async def _huge(
        self, _request: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """50 MB of one JSON string, written a chunk at a time (never held in memory)."""
        head = b'{"STATUS":[{"STATUS":"S","Msg":"'
        chunk = b"x" * _CHUNK
        sent = len(head)
        writer.write(head)
        while sent < HUGE_REPLY_BYTES:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()  # raises once the client has given up (reset)
        return await _send(writer, b'"}]}\x00')

    async def _drip(
        self, request: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """A sane reply, one byte a second (a reply takes over an hour)."""
        for byte in self._render(request):
            writer.write(bytes((byte,)))
            await writer.drain()
            await asyncio.sleep(DRIP_INTERVAL_S)
        return True

    async def _silent(
        self, _request: bytes, reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> bool:
        await _hold(reader)
        return True

    async def _noise(
        self, _request: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        return await _send(writer, self._binary)

    async def _reset(
        self, _request: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        return False  # aborted: the peer sees a connection reset

    async def _never_closing(
        self, request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """A complete reply, then neither the NUL nor a close: the connection stays open."""
        writer.write(self._render(request).rstrip(b"\x00"))
        await writer.drain()
        await _hold(reader)
        return True


# ---------------------------------------------------------------------- helpers


async def _send(writer: asyncio.StreamWriter, data: bytes) -> bool:
    writer.write(data)
    await writer.drain()
    return True


async def _hold(reader: asyncio.StreamReader) -> None:
    """Keep the connection until the peer closes it, discarding whatever it sends."""
    while await reader.read(REQUEST_BYTES):
        pass


def _summary_rows(doc: Any) -> list[dict[str, Any]]:
    """SUMMARY rows of a single (``{"SUMMARY": [...]}``) or joined reply."""
    holders = [doc, *(part[0] for part in doc.values() if isinstance(part, list) and part)]
    rows: list[dict[str, Any]] = []
    for holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("SUMMARY"), list):
            rows += [row for row in holder["SUMMARY"] if isinstance(row, dict)]
    return rows


def _dumps(doc: Any) -> bytes:
    """Compact JSON with each ``_Raw`` value written as its bare token."""
    raws: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, _Raw):
            raws.append(str(value))
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(doc), separators=(",", ":"))
    for index, token in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{index}\x00"), token, 1)
    return text.encode()


def _binary_noise(rng: random.Random, size: int = 4096) -> bytes:
    """Random bytes that start like neither JSON nor text and hold no NUL until the end."""
    body = bytearray(rng.randbytes(size))
    body[0] = 0x80 | body[0]
    body = body.replace(b"\x00", b"\x01")
    return bytes(body) + b"\x00"


# ---------------------------------------------------------------------- CLI


async def _run(variants: Sequence[str], base_ip: str, use_ports: bool) -> None:
    async with MinerZoo(variants or None, base_ip=base_ip, use_ports=use_ports) as zoo:
        for line in zoo.describe():
            print(line, flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = ", ".join(v.value for v in Variant)
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"default all: {names}")
    parser.add_argument("--base-ip", default=DEFAULT_BASE_IP, help="first loopback address")
    parser.add_argument("--use-ports", action="store_true", help="127.0.0.1, a port each")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants if name not in set(Variant)]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {names}")
    try:
        asyncio.run(_run(args.variants, args.base_ip, args.use_ports))
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as exc:
        print(f"miner zoo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
