"""uvicorn on a socket we bind, without uvicorn taking over the process's signals or logging.

uvicorn installs handlers of its own (stderr, no redaction) through its `log_config`; our servers
pass `log_config=None` and `QuietUvicornServer` sends uvicorn's loggers to ours, where every
record is scrubbed of secrets (`backend.core.logging`), tracebacks of failed requests included.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from backend.core.http_wire import http_protocol
from backend.core.logging import route_uvicorn_logs


class QuietUvicornServer(uvicorn.Server):
    """uvicorn without its signal handlers: the owner of the process decides about signals.

    Its log records go through the process's redacting handlers; `access_log` turns on uvicorn's
    request lines (process-wide: uvicorn's loggers are shared by every server in the process).
    """

    def __init__(self, config: uvicorn.Config, *, access_log: bool = False) -> None:
        super().__init__(config)
        route_uvicorn_logs(access_log=access_log)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopbackAsgiServer:
    """One ASGI app on 127.0.0.1 and a free port; for simulators."""

    def __init__(self, app: Any, name: str) -> None:
        self._app = app
        self._name = name
        self.port: int | None = None
        self._server: QuietUvicornServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level=None,
            access_log=False,
            lifespan="off",
            http=http_protocol(),  # the request head bounded, as the API's
        )
        self._server = QuietUvicornServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=self._name)
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
