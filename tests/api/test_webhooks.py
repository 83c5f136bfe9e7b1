"""Webhooks end to end: bus event → signed delivery to a loopback receiver, retries, disabling."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from backend.runtime import Backend
from tests.api.conftest import bearer, register_partner
from tests.api.receiver import Receiver


def spec_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written from the spec (independent of backend code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    if abs(time.time() - int(headers["webhook-timestamp"])) > 300:
        return False
    return any(
        hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in headers["webhook-signature"].split()
        if part.startswith("v1,")
    )


def library_verify(secret: str, headers: dict[str, str], body: bytes) -> Any:
    """The Standard Webhooks reference library, when installed."""
    standardwebhooks = pytest.importorskip("standardwebhooks")
    return standardwebhooks.Webhook(secret).verify(body, headers)


async def add_webhook(
    http: httpx.AsyncClient, key: str, url: str, event_types: list[str]
) -> httpx.Response:
    """POST a webhook as `key`: the API's answer, whatever its status."""
    body = {"url": url, "event_types": event_types}
    return await http.post("/api/v1/webhooks", json=body, headers=bearer(key))


async def _deliveries(http: httpx.AsyncClient, key: str, webhook_id: str) -> list[dict]:
    response = await http.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _settled(http: httpx.AsyncClient, key: str, webhook_id: str, n: int) -> list[dict]:
    for _ in range(200):
        items = await _deliveries(http, key, webhook_id)
        if len(items) >= n and all(i["status"] not in ("pending", "retrying") for i in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {items}")


async def test_offline_alert_is_delivered_signed_to_the_partner(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key, tier="pro")
    key, secret = partner["api_key"], partner["api_secret"]
    async with Receiver() as receiver:
        created = await add_webhook(http, key, receiver.url, ["miner.offline", "miner.alert"])
        assert created.status_code == 201, created.text
        webhook_id = created.json()["webhook_id"]
        backend.bus.publish(
            "alerts", "miner.alert", {"rule": "offline", "miner_id": "m-17", "site": "a"}
        )
        got = await receiver.wait_for(2)
    types = sorted(json.loads(r.body)["type"] for r in got)
    assert types == ["miner.alert", "miner.offline"]
    for request in got:
        assert spec_verify(secret, request.headers, request.body)
        payload = library_verify(secret, request.headers, request.body)
        assert payload["data"]["miner_id"] == "m-17"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"].startswith("msg_")
        tampered = request.body.replace(b"m-17", b"m-18")
        assert not spec_verify(secret, request.headers, tampered)
    items = await _settled(http, key, webhook_id, 2)
    assert {i["status"] for i in items} == {"delivered"}
    assert items[0]["attempt_log"][0]["status_code"] == 200


async def test_failures_are_retried_with_the_same_message_id(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key)
    key = partner["api_key"]
    async with Receiver(script=[500, 503]) as receiver:
        created = await add_webhook(http, key, receiver.url, ["issue.pending"])
        webhook_id = created.json()["webhook_id"]
        backend.bus.publish("issues", "issue.update", {"id": 7, "state": "awaiting_approval"})
        backend.bus.publish("issues", "issue.update", {"id": 7, "state": "awaiting_approval"})
        got = await receiver.wait_for(3)
        items = await _settled(http, key, webhook_id, 1)
    assert len(items) == 1  # the repeated state change was announced once
    assert items[0]["status"] == "delivered" and items[0]["attempts"] == 3
    assert [a["status_code"] for a in items[0]["attempt_log"]] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    for request in got:
        assert spec_verify(partner["api_secret"], request.headers, request.body)


async def test_410_disables_the_endpoint_and_repeated_failure_too(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key)
    key = partner["api_key"]
    async with Receiver(default=410) as gone, Receiver(default=500) as broken:
        ids = []
        for receiver in (gone, broken):
            created = await add_webhook(http, key, receiver.url, ["price.move"])
            ids.append(created.json()["webhook_id"])
        backend.bus.publish("prices", "price.tick", {"price_usd": 100_000.0})
        backend.bus.publish("prices", "price.tick", {"price_usd": 101_000.0})  # +1%: nothing
        backend.bus.publish("prices", "price.tick", {"price_usd": 103_000.0})  # +3%: a move
        backend.bus.publish("prices", "price.tick", {"price_usd": 95_000.0})  # -7.8%: a move
        await _settled(http, key, ids[0], 1)
        await _settled(http, key, ids[1], 2)
    first = (await http.get(f"/api/v1/webhooks/{ids[0]}", headers=bearer(key))).json()
    assert first["status"] == "disabled" and "410" in first["disabled_reason"]
    assert 1 <= len(gone.received) <= 2  # both moves may be in flight when the 410 lands
    second = (await http.get(f"/api/v1/webhooks/{ids[1]}", headers=bearer(key))).json()
    assert second["status"] == "disabled" and "5 failed" in second["disabled_reason"]
    moves = {
        json.loads(r.body)["data"]["price_usd"]: json.loads(r.body)["data"] for r in broken.received
    }
    assert moves[103_000.0]["direction"] == "up" and moves[95_000.0]["direction"] == "down"
    assert set(moves) == {103_000.0, 95_000.0}  # the +1% tick was not a move
    # Re-enabling works, and a disabled endpoint refuses tests until then.
    refused = await http.post(f"/api/v1/webhooks/{ids[1]}/test", headers=bearer(key))
    assert refused.status_code == 409
    enabled = await http.patch(
        f"/api/v1/webhooks/{ids[1]}", json={"enabled": True}, headers=bearer(key)
    )
    assert enabled.json()["status"] == "active"


async def test_webhook_registration_rules(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    one = await register_partner(http, operator_key, name="One")
    two = await register_partner(http, operator_key, name="Two")
    bad_type = await add_webhook(http, one["api_key"], "http://127.0.0.1:9/x", ["miner.exploded"])
    assert bad_type.status_code == 422 and "miner.offline" in bad_type.json()["error"]["message"]
    operator_without_partner = await add_webhook(
        http, operator_key, "http://127.0.0.1:9/x", ["price.move"]
    )
    assert operator_without_partner.status_code == 422
    created = await http.post(
        "/api/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/x",
            "event_types": ["price.move"],
            "partner_id": two["partner_id"],
        },
        headers=bearer(operator_key),
    )
    assert created.status_code == 201
    webhook_id = created.json()["webhook_id"]
    listed = (await http.get("/api/v1/webhooks", headers=bearer(one["api_key"]))).json()
    assert listed["total"] == 0
    other = await http.get(f"/api/v1/webhooks/{webhook_id}", headers=bearer(one["api_key"]))
    assert other.status_code == 404
    types = (await http.get("/api/v1/webhooks/event-types", headers=bearer(one["api_key"]))).json()
    assert {"miner.offline", "issue.confirmed"} <= {t["type"] for t in types["items"]}
    # Private and loopback targets are refused unless explicitly allowed.
    backend.settings = backend.settings.model_copy(
        update={"webhooks_allow_private": False, "webhooks_allow_http": False}
    )
    for url, why in (
        ("http://127.0.0.1:8080/h", "http"),
        ("https://127.0.0.1/h", "private"),
        ("https://10.0.0.7/h", "private"),
        ("https://[::1]/h", "private"),
        ("https://user:pw@example.com/h", "credentials"),
    ):
        refused = await add_webhook(http, one["api_key"], url, ["price.move"])
        assert refused.status_code == 422, url
        assert why in refused.json()["error"]["message"], refused.text
    deleted = await http.delete(f"/api/v1/webhooks/{webhook_id}", headers=bearer(operator_key))
    assert deleted.status_code == 204


async def test_a_deleted_partner_stays_deleted_for_its_endpoints_and_secret(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    """Deleting a partner disables its webhooks for good: an admin cannot switch one back on
    (nor send it a test event), and its signing secret is not rotated any more."""
    partner = await register_partner(http, operator_key, tier="pro")
    pid = partner["partner_id"]
    async with Receiver() as receiver:
        created = await add_webhook(http, partner["api_key"], receiver.url, ["miner.alert"])
        assert created.status_code == 201, created.text
    webhook_id = created.json()["webhook_id"]
    deleted = await http.delete(f"/api/v1/partners/{pid}", headers=bearer(operator_key))
    assert deleted.status_code == 200, deleted.text
    admin = bearer(operator_key)
    enable = await http.patch(
        f"/api/v1/webhooks/{webhook_id}", json={"enabled": True}, headers=admin
    )
    assert enable.status_code == 409 and "deleted" in enable.text
    assert (
        await http.post(f"/api/v1/webhooks/{webhook_id}/test", headers=admin)
    ).status_code == 409
    rotated = await http.post(f"/api/v1/partners/{pid}/secret", headers=admin)
    assert rotated.status_code == 409 and "deleted" in rotated.text


class Dripping:
    """An endpoint that answers its status line, then one header byte every half second."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Dripping:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hooks"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:
                await asyncio.sleep(0.5)
                writer.write(b"X")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def test_an_endpoint_that_drips_its_answer_cannot_hold_everyone_elses_deliveries(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    """Every delivery slot taken by endpoints that never finish answering: an attempt still
    ends at the timeout (2 s here), so another partner's event goes out after it."""
    slots = backend.settings.webhooks_concurrency
    slow = await register_partner(http, operator_key, name="Slow")
    fine = await register_partner(http, operator_key, name="Fine")
    async with Dripping() as dripping, Receiver() as receiver:
        for _ in range(slots):
            created = await add_webhook(http, slow["api_key"], dripping.url, ["price.move"])
            assert created.status_code == 201, created.text
        await add_webhook(http, fine["api_key"], receiver.url, ["price.move"])
        backend.bus.publish("prices", "price.tick", {"price_usd": 100_000.0})
        backend.bus.publish("prices", "price.tick", {"price_usd": 110_000.0})
        assert await receiver.wait_for(1, wait_s=15)
        slow_hooks = (await http.get("/api/v1/webhooks", headers=bearer(slow["api_key"]))).json()
        items = await _deliveries(http, slow["api_key"], slow_hooks["items"][0]["webhook_id"])
        for _ in range(100):
            if items[0]["attempt_log"]:
                break
            await asyncio.sleep(0.1)
            items = await _deliveries(http, slow["api_key"], slow_hooks["items"][0]["webhook_id"])
    assert dripping.connections >= slots
    assert items[0]["attempt_log"][0]["error"] == "timeout after 2s"


@pytest.mark.parametrize("bad", ["a\u0001b", "a\tb", "a b", "a\u007fb", "a\u0085b"])
async def test_a_url_no_http_client_can_send_is_refused_when_registered(
    http: httpx.AsyncClient, operator_key: str, bad: str
) -> None:
    partner = await register_partner(http, operator_key)
    created = await add_webhook(
        http, partner["api_key"], f"http://127.0.0.1:9/{bad}", ["price.move"]
    )
    assert created.status_code == 422, created.text
    assert "control characters" in created.json()["error"]["message"]


async def test_a_delivery_whose_attempt_cannot_run_waits_instead_of_spinning(
    http: httpx.AsyncClient,
    operator_key: str,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import backend.notify.service as webhook_service

    calls: list[str] = []

    async def broken(*_args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["url"])
        raise RuntimeError("a bug in the attempt")

    monkeypatch.setattr(webhook_service, "attempt", broken)
    partner = await register_partner(http, operator_key)
    created = await add_webhook(
        http, partner["api_key"], "http://127.0.0.1:9/hooks", ["price.move"]
    )
    webhook_id = created.json()["webhook_id"]
    await http.post(f"/api/v1/webhooks/{webhook_id}/test", headers=bearer(partner["api_key"]))
    await asyncio.sleep(1.5)
    [item] = await _deliveries(http, partner["api_key"], webhook_id)
    assert len(calls) == 1
    assert item["status"] in ("pending", "retrying") and item["attempts"] == 0
    assert "internal error: RuntimeError; trying again in 60s" in item["last_error"]


async def test_a_suspended_partner_s_deliveries_wait_and_go_out_once_resumed(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    from backend.api.deps import find_service
    from backend.notify.service import WebhookService

    webhooks = find_service(backend, WebhookService)
    assert webhooks is not None
    partner = await register_partner(http, operator_key, name="Paused")
    other = await register_partner(http, operator_key, name="Other")
    partner_id, key = partner["partner_id"], partner["api_key"]
    async with Receiver() as receiver:
        created = await add_webhook(http, key, receiver.url, ["price.move"])
        webhook_id = created.json()["webhook_id"]
        suspended = await http.post(
            f"/api/v1/partners/{partner_id}/suspend", headers=bearer(operator_key)
        )
        assert suspended.status_code == 200
        # queued before the suspension took effect: it must wait, not be cancelled
        [held] = await webhooks.store.enqueue([(webhook_id, partner_id)], "price.move", {"n": 1})
        webhooks.wake()
        for _ in range(100):
            row = await webhooks.store.delivery(held)
            assert row is not None
            if "held" in (row.last_error or ""):
                break
            await asyncio.sleep(0.05)
        assert row.status == "pending" and row.attempts == 0 and not receiver.received
        # while suspended, the index is rebuilt (another partner's change) without it
        await add_webhook(http, other["api_key"], receiver.url, ["miner.offline"])
        backend.bus.publish("prices", "price.tick", {"price_usd": 100_000.0})
        backend.bus.publish("prices", "price.tick", {"price_usd": 110_000.0})
        await asyncio.sleep(0.3)
        assert not receiver.received
        resumed = await http.post(
            f"/api/v1/partners/{partner_id}/resume", headers=bearer(operator_key)
        )
        assert resumed.status_code == 200
        await receiver.wait_for(1, wait_s=10)  # the held one, at once (not after the hold)
        backend.bus.publish("prices", "price.tick", {"price_usd": 125_000.0})  # +13.6%
        got = await receiver.wait_for(2, wait_s=10)
    assert json.loads(got[0].body)["data"] == {"n": 1}
    assert json.loads(got[1].body)["type"] == "price.move"
