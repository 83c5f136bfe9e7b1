"""A second listener of one simulated miner (its web CGI, its Whatsminer v3 API) on the miner's
own address: start, stop, and the connections it holds open, in one place for every dialect;
`HttpSideServer` adds the HTTP exchange the miners' web servers share (one request per
connection, dark while the miner reboots, a `hang` fault that accepts and never answers, an
answer of None that closes the connection unanswered)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from backend.sim.http_server import SimRequest, SimResponse, encode_response, read_request

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner


_LINGER_RST = struct.pack("ii", 1, 0)


def drop(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close without answering: a FIN, or with ``reset`` an abortive close (RST)."""
    sock = writer.get_extra_info("socket")
    if reset and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.close()


class SideServer:
    """Subclasses implement `_handle`; `what` names the service in start-up errors."""

    what = "side service"

    def __init__(self, miner: SimMiner, host: str, port: int) -> None:
        self.miner = miner
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:  # the fleet's start moves to another address block on this
            where = f"{self.host}:{self.port}"
            raise RuntimeError(f"cannot serve the {self.what} on {where}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        for writer in list(self._held):
            writer.close()
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


READ_TIMEOUT_S = 10.0
# the response (None: the connection closed unanswered), and what happens after
Answer = tuple[SimResponse | None, Callable[[], None] | None]


class HttpSideServer(SideServer):
    """Subclasses implement `answer`; `server` is the Server header the real firmware sends."""

    server = ""

    def __init__(self, miner: SimMiner, host: str, port: int) -> None:
        super().__init__(miner, host, port)
        self.fault: str | None = None  # "hang": accept and never answer (subclasses add more)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.miner.restarting or not self.miner.listening:
                return  # rebooting: the web server is down with the rest of the miner
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    request = await read_request(reader)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                return
            if request is None:
                return
            if self.hangs(request):
                self._held.add(writer)
                with contextlib.suppress(Exception):
                    await reader.read()  # until the client gives up
                return
            response, after = self.answer(request)
            if response is not None:
                writer.write(encode_response(response, keep_alive=False, server=self.server))
                await writer.drain()
            if after is not None:
                after()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    def hangs(self, request: SimRequest) -> bool:
        """Whether to hold this request unanswered (the ``hang`` fault; subclasses add some)."""
        return self.fault == "hang"

    def answer(self, request: SimRequest) -> Answer:
        raise NotImplementedError
