"""Hostile requests on the API's doors: bounded before auth and parsing, answered, never fatal."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from backend.runtime import Backend
from tests.helpers import eventually, free_port, isolated_env
from tests.test_serve_attach import start_serve

NESTED_200K = b"[" * 100_000 + b"]" * 100_000  # 200 KB: once enough to SIGSEGV the backend


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


async def test_deeply_nested_bodies_do_not_kill_serve(tmp_path: Path) -> None:
    """The crash found in review: one unauthenticated request stopped the whole backend."""
    port = free_port()
    process = start_serve(isolated_env(tmp_path), port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:

            async def up() -> bool:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within_s=90, step_s=0.2, what="serve to answer /healthz")
            headers = {"Content-Type": "application/json"}
            for path in ("/api/wallet/nonce", "/api/v1/keys", "/api/wallet/login"):
                response = await http.post(path, content=NESTED_200K, headers=headers)
                assert response.status_code == 400, (path, response.text)
                assert "nested deeper than 64 levels" in error_of(response)["message"]
            assert process.poll() is None, "the backend died"
            assert (await http.get("/healthz")).status_code == 200
    finally:
        process.terminate()
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
    assert process.returncode == 0, err[-2000:]
    assert "Traceback" not in err


@pytest.fixture
async def http(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=30) as client:
        yield client


async def test_a_body_over_the_limit_is_refused_before_auth(
    backend: Backend, http: httpx.AsyncClient
) -> None:
    limit = backend.settings.api_max_body_bytes
    assert limit == 1 << 20  # the documented default
    big = b'{"name": "' + b"a" * limit + b'"}'
    response = await http.post("/api/v1/keys", content=big)  # no key at all
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["message"].endswith(f"the limit is {limit}")


async def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(
    backend: Backend,
) -> None:
    """No Content-Length to go by: the bytes are counted as they come, and never all kept."""
    host, port = backend.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /api/wallet/nonce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 65_536
        for _ in range(backend.settings.api_max_body_bytes // len(chunk) + 2):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))  # the end chunk never comes
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 413 "), head
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"wallet_address": NaN}', "not valid JSON"),
        (b'{"wallet_address": "0x' + b"1" * 40 + b'",', "not valid JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nested deeper than 64 levels"),
    ],
)
async def test_malformed_json_bodies_get_a_plain_400(
    http: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await http.post(
        "/api/wallet/nonce", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "bad_request" and reason in error["message"]


@pytest.mark.parametrize(
    ("content_types", "reason"),
    [
        # the parser reads the first type, a check of the last would pass a deep body on
        ([b"application/json", b"text/plain"], "more than one Content-Type header"),
        # FastAPI strips Unicode whitespace from the type and parses it as JSON
        ([b"application/json\xa0"], "nested deeper than 64 levels"),
        ([b"application/json\x85"], "nested deeper than 64 levels"),
        ([b"Application/JSON ; charset=utf-8"], "nested deeper than 64 levels"),
    ],
)
async def test_a_deep_body_cannot_pass_the_check_by_its_content_type(
    backend: Backend, content_types: list[bytes], reason: str
) -> None:
    deep = b'{"a":' * 900 + b"1" + b"}" * 900
    host, port = backend.url.removeprefix("http://").rsplit(":", 1)
    head = b"POST /api/wallet/nonce HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += b"".join(b"Content-Type: " + t + b"\r\n" for t in content_types)
    head += b"Content-Length: %d\r\n\r\n" % len(deep)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + deep)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    assert b" 400 " in status_line, raw[:300]
    assert reason in json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["message"]


async def test_a_body_within_the_limits_still_reaches_the_route(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    response = await http.post(
        "/api/v1/keys",
        json={"name": "within limits", "scopes": ["read"]},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert response.status_code in (200, 201), response.text


def ws_url(backend: Backend, query: str = "") -> str:
    return backend.url.replace("http://", "ws://") + "/ws" + query


async def recv(ws: websockets.ClientConnection) -> dict[str, object]:
    return json.loads(await ws.recv(decode=True))


async def test_a_binary_frame_before_auth_gets_an_error_and_close_1003(backend: Backend) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send(b"\x00\x01binary")
        assert (await recv(ws))["code"] == "binary_frame"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_binary_and_deep_frames_after_auth_get_errors_and_keep_the_connection(
    backend: Backend, operator_key: str
) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        assert (await recv(ws))["type"] == "auth_ok"
        await ws.send(b"\xff\xfe")
        assert (await recv(ws))["code"] == "binary_frame"
        await ws.send("[" * 10_000 + "]" * 10_000)
        error = await recv(ws)
        assert error["code"] == "bad_frame" and "nested deeper" in str(error["message"])
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


@pytest.mark.parametrize("query", ["?api_key=hsk_x", "?token=abc", "?Key=1"])
async def test_a_key_in_the_websocket_query_string_is_refused(backend: Backend, query: str) -> None:
    async with websockets.connect(ws_url(backend, query)) as ws:
        error = await recv(ws)
        assert error["code"] == "bad_request" and "query string" in str(error["message"])
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
