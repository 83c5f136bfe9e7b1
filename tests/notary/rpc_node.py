"""A JSON-RPC node on loopback backed by py-evm (EthereumTester), for the BASE_L2_RPC path.

web3's tester provider answers in Python types; this node turns them back into the JSON-RPC
wire format (hex quantities, hex data) that a real node like Base Sepolia's sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from web3 import EthereumTesterProvider, Web3


def to_wire(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return str(value)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RpcNode:
    def __init__(self) -> None:
        self.w3 = Web3(EthereumTesterProvider())
        self.calls: list[str] = []
        self.fail_methods: set[str] = set()  # answer these with HTTP 503 (fault injection)
        self.port = 0
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/secret-api-key"

    def fund(self, address: str, wei: int = 10**18) -> None:
        self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0], "to": address, "value": wei})

    async def _rpc(self, request: Request) -> Response:
        body = await request.json()
        method, params = body["method"], body.get("params") or []
        self.calls.append(method)
        if method in self.fail_methods:
            return Response("unavailable", status_code=503)
        try:
            result = await asyncio.to_thread(self.w3.manager.request_blocking, method, params)
        except Exception as exc:
            error = {"code": -32000, "message": str(exc)[:200]}
            return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "error": error})
        return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": to_wire(result)})

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/v1/secret-api-key", self._rpc, methods=["POST"])])
        self._server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
