"""The API over real HTTP and WebSocket, against a backend on a loopback port."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import websockets

from backend.runtime import Backend


async def get(backend: Backend, path: str, key: str | None = None, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False) as http:
        return await http.get(path, headers=headers, **kw)  # type: ignore[arg-type]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_healthz_needs_no_key(backend: Backend) -> None:
    response = await get(backend, "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_health_reports_each_integration_from_real_checks(
    backend: Backend, operator_key: str
) -> None:
    response = await get(backend, "/api/v1/health", operator_key)
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok" and report["mode"] == "serve"
    database = next(i for i in report["integrations"] if i["name"] == "database")
    assert database["status"] == "ok"
    assert database["latency_ms"] is not None and database["last_success"] is not None


async def test_health_shows_a_failing_database(backend: Backend, operator_key: str) -> None:
    await backend.db.engine.dispose()
    original = backend.db.ping

    async def broken() -> None:
        raise ConnectionError("database is unreachable")

    backend.db.ping = broken  # type: ignore[method-assign]
    try:
        await backend.run_health_checks()
        report = (await get(backend, "/api/v1/health", operator_key)).json()
    finally:
        backend.db.ping = original  # type: ignore[method-assign]
    database = next(i for i in report["integrations"] if i["name"] == "database")
    # degraded on the first failure, down after more (the periodic check may have run too)
    assert database["status"] in ("degraded", "down")
    assert "database is unreachable" in database["last_error"]
    assert report["status"] in ("degraded", "down")


async def test_no_key_bad_key_and_malformed_header_are_401(backend: Backend) -> None:
    assert_error(await get(backend, "/api/v1/health"), 401, "unauthorized")
    bad = "hsk_aaaaaaaaaaaa_" + "0" * 64
    assert_error(await get(backend, "/api/v1/health", bad), 401, "unauthorized")
    assert_error(await get(backend, "/api/v1/health", "nonsense"), 401, "unauthorized")
    async with httpx.AsyncClient(base_url=backend.url) as http:
        response = await http.get("/api/v1/health", headers={"Authorization": "Basic abc"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_key_in_query_string_is_refused(backend: Backend, operator_key: str) -> None:
    response = await get(backend, "/api/v1/health", params={"api_key": operator_key})
    assert_error(response, 400, "bad_request")
    assert operator_key not in response.text


async def test_wrong_scope_is_403(backend: Backend) -> None:
    _info, key = await backend.auth.create_key(name="partner", owner_type="partner", scopes="read")
    assert (await get(backend, "/api/v1/health", key)).status_code == 200
    async with httpx.AsyncClient(base_url=backend.url) as http:
        response = await http.post(
            "/api/v1/health/check", headers={"Authorization": f"Bearer {key}"}
        )
    assert_error(response, 403, "forbidden")
    assert "admin" in response.json()["error"]["message"]


async def test_revoked_and_expired_keys_stop_working_at_once(
    backend: Backend, operator_key: str
) -> None:
    info, key = await backend.auth.create_key(name="temp", scopes="read")
    assert (await get(backend, "/api/v1/me", key)).status_code == 200
    await backend.auth.revoke(info.key_id)
    assert_error(await get(backend, "/api/v1/me", key), 401, "unauthorized")
    assert (await get(backend, "/api/v1/me", operator_key)).status_code == 200
    _info, expired = await backend.auth.create_key(
        name="old", scopes="read", expires_in=timedelta(seconds=-1)
    )
    assert_error(await get(backend, "/api/v1/me", expired), 401, "unauthorized")


async def test_me_describes_the_key_without_secrets(backend: Backend, operator_key: str) -> None:
    body = (await get(backend, "/api/v1/me", operator_key)).json()
    assert body["owner_type"] == "operator" and body["read_only"] is False
    assert "admin" in body["scopes"]
    assert operator_key.split("_")[2] not in json.dumps(body)


async def test_unknown_route_uses_the_error_shape(backend: Backend, operator_key: str) -> None:
    assert_error(await get(backend, "/api/v1/nope", operator_key), 404, "not_found")


async def test_openapi_and_docs_are_served(backend: Backend) -> None:
    spec = (await get(backend, "/api/v1/openapi.json")).json()
    assert "/api/v1/health" in spec["paths"] and "/api/v1/me" in spec["paths"]
    assert (await get(backend, "/api/v1/docs")).status_code == 200


def ws_url(backend: Backend) -> str:
    return backend.url.replace("http://", "ws://") + "/ws"


async def recv(ws: websockets.ClientConnection, wait_s: float = 5.0) -> dict[str, object]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def test_ws_auth_subscribe_and_receive_health_events(
    backend: Backend, operator_key: str
) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        ok = await recv(ws)
        assert ok["type"] == "auth_ok" and "health" in ok["channels"]  # type: ignore[operator]
        await ws.send(json.dumps({"type": "subscribe", "channels": ["health"]}))
        assert (await recv(ws))["type"] == "subscribed"
        await backend.run_health_checks()
        event = await recv(ws)
        assert event["type"] == "event" and event["channel"] == "health"
        assert event["data"]["name"] == "database"  # type: ignore[index]
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


async def test_ws_bad_frames_get_clear_errors_and_keep_the_connection(
    backend: Backend, operator_key: str
) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send("{not json")
        error = await recv(ws)
        assert error["code"] == "bad_frame"
        assert error["message"].startswith("frame is not valid JSON")
        await ws.send(json.dumps({"type": "subscribe", "channels": ["health"]}))
        assert (await recv(ws))["code"] == "auth_required"
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        assert (await recv(ws))["type"] == "auth_ok"
        await ws.send(json.dumps([1, 2]))
        assert (await recv(ws))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "subscribe", "channels": ["nope"]}))
        error = await recv(ws)
        assert error["code"] == "unknown_channel" and "health" in str(error["message"])
        await ws.send(json.dumps({"type": "subscribe", "channels": "health"}))
        assert (await recv(ws))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "dance"}))
        assert (await recv(ws))["code"] == "unknown_type"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


async def test_ws_bad_key_closes_with_4001(backend: Backend) -> None:
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": "hsk_x"}))
        assert (await recv(ws))["code"] == "unauthorized"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_ws_key_without_stream_scope_is_refused(backend: Backend) -> None:
    _info, key = await backend.auth.create_key(name="no-stream", scopes="read")
    async with websockets.connect(ws_url(backend)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": key}))
        assert (await recv(ws))["code"] == "forbidden"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_ws_header_auth_and_heartbeat(backend: Backend, operator_key: str) -> None:
    headers = {"Authorization": f"Bearer {operator_key}"}
    async with websockets.connect(ws_url(backend), additional_headers=headers) as ws:
        assert (await recv(ws))["type"] == "auth_ok"
        beat = await recv(ws, wait_s=backend.settings.ws_heartbeat_s * 3)
        assert beat["type"] == "heartbeat"


async def test_ws_slow_client_is_cut_with_4008(backend: Backend, operator_key: str) -> None:
    async with websockets.connect(ws_url(backend), max_queue=1) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "channels": ["health"]}))
        await recv(ws)
        # This client reads nothing while the flood goes out: 3x its queue of 8 KiB events is
        # more than the socket buffers hold, so its transport backs up and its queue overflows.
        pad = "x" * 8192
        for _ in range(backend.settings.ws_queue_size * 3):
            backend.bus.publish("health", "health.update", {"name": "flood", "pad": pad})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    assert backend.bus.dropped_total >= 1
