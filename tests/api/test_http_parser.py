"""The API's HTTP/1.1 parser: httptools when installed, with the request head bounded as h11's."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.core.http_wire import DEFAULT_HEAD_LIMIT, http_protocol
from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import isolated_env

HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None


@pytest.fixture(params=["auto", "h11"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    settings = load_settings(
        isolated_env(tmp_path),
        overrides={"api_port": 0, "market_enabled": False, "api_http": request.param},
    )
    instance = Backend(settings, mode="serve")
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _connect(backend: Backend) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = backend.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(status line and headers, body) of one response."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


def test_auto_takes_httptools_when_installed_and_h11_on_request() -> None:
    assert http_protocol("h11") == "h11"
    chosen = http_protocol("auto")
    if HAS_HTTPTOOLS:
        assert isinstance(chosen, type) and chosen.__name__ == "BoundedHttpToolsProtocol"
        assert http_protocol("httptools") is chosen
    else:
        assert chosen == "h11"


async def test_a_header_that_never_ends_is_refused_and_the_connection_closed(
    backend: Backend,
) -> None:
    """A header line streamed on and on is answered 400 once past the bound, not kept."""
    reader, writer = await _connect(backend)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        sent = 0
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            while sent < 4 * DEFAULT_HEAD_LIMIT:  # the end of the line never comes
                writer.write(b"a" * 4096)
                await writer.drain()
                sent += 4096
                await asyncio.sleep(0.01)  # separate reads on the server's side
            head, _body = await _answer(reader)
            assert head.startswith(b"HTTP/1.1 400 "), head
            await asyncio.wait_for(reader.readexactly(1), 10)  # then the server closes
    finally:
        writer.close()


async def test_a_large_but_bounded_head_and_pipelined_bodies_still_get_answers(
    backend: Backend,
) -> None:
    """An 8 KB header passes; a 200 KB body followed in the same writes by a second request
    is no oversized head."""
    reader, writer = await _connect(backend)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 8000 + b"\r\n\r\n")
        head, _body = await _answer(reader)
        assert head.startswith(b"HTTP/1.1 200 "), head
        body = b'{"name": "' + b"a" * 200_000 + b'"}'
        writer.write(
            b"POST /api/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (len(body), body)
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first, _ = await _answer(reader)
        second, _ = await _answer(reader)
        assert first.startswith(b"HTTP/1.1 401 "), first  # no key: refused by auth, not parsing
        assert second.startswith(b"HTTP/1.1 200 "), second
    finally:
        writer.close()


async def test_a_request_does_not_look_up_telemetry_providers(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No OpenTelemetry is configured: FastAPI must not ask for the providers per request."""
    trace = pytest.importorskip("opentelemetry.trace")
    real = trace.get_tracer_provider
    calls: list[int] = []

    def counted() -> object:
        calls.append(1)
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    reader, writer = await _connect(backend)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _body = await _answer(reader)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert calls == []
