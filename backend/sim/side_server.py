"""A second listener of one simulated miner (its web CGI, its Whatsminer v3 API) on the miner's
own address: start, stop, and the connections it holds open, in one place for every dialect."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.sim.fleet import SimMiner


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
