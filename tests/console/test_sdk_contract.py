"""The SDK answers with the API's contract models, and a reply that does not fit is an ApiError
that says where it went wrong (never a pydantic traceback, never the reply's values)."""

from __future__ import annotations

import email.utils
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashinsight_contract.common import HealthReport
from hashinsight_contract.fleet import MinerList, MinerOut
from hashinsight_contract.notary import NotarizationOut
from hashinsight_contract.partners import KeyCreated
from hashinsight_tui.client import (
    ApiError,
    AuthError,
    ConnectionLost,
    HashInsightClient,
    InvalidAnswer,
)
from hashinsight_tui.fleet_model import page_items
from hashinsight_tui.sdk.transport import retry_after_s

HEALTH: dict[str, Any] = {
    "status": "ok",
    "version": "1.2.3",
    "started_at": 1_700_000_000.0,
    "uptime_s": 12.0,
    "mode": "serve",
    "integrations": [],
    "bus": {"subscribers": 1, "published": 2, "dropped": 0},
    "websocket_clients": 0,
}


def client_answering(body: Any) -> HashInsightClient:
    def handle(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    return HashInsightClient("http://sdk.test", "hsk_test", transport=httpx.MockTransport(handle))


async def test_an_answer_comes_back_as_its_contract_model() -> None:
    async with client_answering(HEALTH) as client:
        report = await client.health()
    assert isinstance(report, HealthReport)
    assert report.bus.published == 2 and report.mode == "serve"


async def test_an_answer_that_does_not_fit_is_an_api_error_naming_the_field() -> None:
    broken = {**HEALTH, "bus": {"subscribers": "many", "published": 2, "dropped": 0}}
    del broken["integrations"]
    async with client_answering(broken) as client:
        with pytest.raises(ApiError) as caught:
            await client.health()
    error = caught.value
    assert isinstance(error, InvalidAnswer)
    assert error.status == 502 and error.code == "invalid_answer"
    assert "GET /api/v1/health" in error.message and "HealthReport" in error.message
    assert "integrations" in error.message and "bus.subscribers" in error.message
    assert "many" not in error.message  # where it went wrong, not what the server sent
    assert "pydantic" not in str(error) and "\n" not in str(error)


async def test_a_reply_that_is_not_an_object_is_refused_too() -> None:
    async with client_answering(["not", "a", "notarization"]) as client:
        with pytest.raises(InvalidAnswer, match="is not a NotarizationOut"):
            await client.notarization(7)


def test_a_created_key_never_shows_its_secret_in_a_repr() -> None:
    key = {
        "key_id": "k1",
        "name": "ops",
        "owner_type": "operator",
        "owner_id": None,
        "scopes": ["read"],
        "tier": "operator",
        "mode": "auto",
        "read_only": False,
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
    }
    created = KeyCreated.model_validate({"key": key, "api_key": "hsk_secret_value"})
    assert "hsk_secret_value" not in repr(created) and "hsk_secret_value" not in str(created)
    assert created.key.state == "active"


def test_a_notarization_step_not_recorded_yet_is_pending() -> None:
    step = {"name": "sign", "state": "done", "at": None, "detail": None, "error": None}
    fields = dict.fromkeys(NotarizationOut.model_fields)
    fields |= {
        "id": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "trigger": "manual",
        "requested_by": "ops",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-02T00:00:00Z",
        "status": "running",
        "steps": [step],
        "attempts": 1,
    }
    item = NotarizationOut.model_validate(fields)
    assert item.step_state("sign") == "done" and item.step_state("anchor") == "pending"


def test_a_summary_page_reaches_the_fleet_views_without_the_fields_it_left_out() -> None:
    """The fleet views merge REST rows with streamed ones: a summary row must not carry
    `boards: None` over the boards a detailed row already showed."""
    miner = dict.fromkeys(MinerOut.model_fields) | {
        "id": "m1",
        "host": "10.0.0.1",
        "port": 4028,
        "status": "online",
        "fans_rpm": [],
        "polled_at": 1.0,
        "open_alerts": 0,
    }
    for left_out in ("boards", "pools", "capabilities", "stale"):
        del miner[left_out]
    page = MinerList.model_validate({"items": [miner], "total": 1, "limit": 1, "offset": 0})
    rows, total = page_items(page)
    assert total == 1 and rows[0]["id"] == "m1" and rows[0]["status"] == "online"
    assert "boards" not in rows[0] and "pools" not in rows[0]


def client_replying(*replies: httpx.Response | Exception) -> tuple[HashInsightClient, list[str]]:
    """A client whose backend gives these replies in turn; the list records what was asked."""
    asked: list[str] = []
    pending = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        reply = pending.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    transport = httpx.MockTransport(handle)
    return HashInsightClient("http://sdk.test", "hsk_test", transport=transport), asked


def refusal(status: int, code: str, message: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message}}
    return httpx.Response(status, content=json.dumps(body).encode())


async def test_every_kind_of_call_reports_a_refusal_with_the_apis_code_and_message(
    tmp_path: Path,
) -> None:
    client, _ = client_replying(
        refusal(403, "forbidden", "needs fleet:admin"),
        refusal(403, "forbidden", "needs admin"),
        refusal(404, "not_found", "no export e1"),
        httpx.Response(500, content=b"<html>oops</html>"),
    )
    async with client:
        with pytest.raises(AuthError, match="needs fleet:admin"):
            await client.fleet_credentials()  # a plain call
        with pytest.raises(AuthError, match="needs admin"):
            await client.list_keys()  # a managed call
        with pytest.raises(ApiError) as missing:
            await client.download_export("e1", str(tmp_path / "out.json"))
        with pytest.raises(ApiError) as broken:
            await client.network_stats()
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert not (tmp_path / "out.json").exists()
    assert (broken.value.status, broken.value.code) == (500, "error")
    assert "oops" not in str(broken.value)


async def test_a_managed_call_waits_out_a_rate_limit_and_remembers_the_limits() -> None:
    limits = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "59", "x-ratelimit-reset": "99"}
    client, asked = client_replying(
        httpx.Response(429, headers={"retry-after": "0"}),
        httpx.Response(204, headers=limits),
    )
    async with client:
        await client.delete_webhook("w1")
        state = client.last_rate_limit()
    assert asked == ["DELETE /api/v1/webhooks/w1"] * 2
    assert state is not None and (state.limit, state.remaining, state.reset) == (60, 59, 99)


async def test_a_rate_limit_with_a_retry_after_that_is_no_number_is_refused_plainly() -> None:
    """A server's `Retry-After: soon` (or a date, or NaN) is not waited on and not a crash: the
    429 comes back as the SDK's own error."""
    for odd in ("soon", "nan", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"):
        client, asked = client_replying(httpx.Response(429, headers={"retry-after": odd}))
        async with client:
            with pytest.raises(ApiError) as refused:
                await client.delete_webhook("w1")
        assert refused.value.status == 429
        assert asked == ["DELETE /api/v1/webhooks/w1"]


def test_retry_after_reads_seconds_and_http_dates_as_the_backend_client_does() -> None:
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert retry_after_s(None) == 1.0
    assert retry_after_s("2") == 2.0
    assert 55 <= retry_after_s(in_a_minute) <= 60
    assert retry_after_s("soon") == math.inf


async def test_a_lost_read_is_asked_again_once_but_a_lost_write_is_not() -> None:
    lost = httpx.ConnectError("refused")
    client, asked = client_replying(lost, httpx.Response(200, json={"items": []}), lost)
    async with client:
        assert (await client.export_datasets()).items == []
        with pytest.raises(ConnectionLost, match=r"sdk\.test: ConnectError"):
            await client.delete_export("e1")
    assert asked == ["GET /api/v1/exports/datasets"] * 2 + ["DELETE /api/v1/exports/e1"]


async def test_a_malformed_event_frame_is_dropped_and_the_stream_goes_on() -> None:
    """A frame whose `data` is not an object (or that names no channel) would crash the
    console's store: the SDK drops it and yields the next good event."""
    import websockets

    async def backend(ws: Any) -> None:
        await ws.recv()  # auth
        await ws.send(json.dumps({"type": "auth_ok", "key_id": "k", "scopes": [], "channels": []}))
        await ws.recv()  # subscribe
        good = {"type": "event", "channel": "prices", "event": "price.update", "ts": 1.0}
        for bad in (
            {**good, "data": ["not", "an", "object"]},
            {key: value for key, value in good.items() if key != "channel"} | {"data": {}},
            {**good, "data": {}, "ts": "yesterday"},
        ):
            await ws.send(json.dumps(bad))
        await ws.send(json.dumps({**good, "data": {"usd": 97_000.0}}))
        await ws.wait_closed()

    async with websockets.serve(backend, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = HashInsightClient(f"http://127.0.0.1:{port}", "hsk_test")
        try:
            events = client.stream(["prices"])
            first = await anext(events)
            await events.aclose()
        finally:
            await client.aclose()
    assert (first.channel, first.event, first.data) == ("prices", "price.update", {"usd": 97_000.0})
