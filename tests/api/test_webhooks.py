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
        created = await http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "event_types": ["miner.offline", "miner.alert"]},
            headers=bearer(key),
        )
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
        created = await http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "event_types": ["issue.pending"]},
            headers=bearer(key),
        )
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
            created = await http.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "event_types": ["price.move"]},
                headers=bearer(key),
            )
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
    bad_type = await http.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "event_types": ["miner.exploded"]},
        headers=bearer(one["api_key"]),
    )
    assert bad_type.status_code == 422 and "miner.offline" in bad_type.json()["error"]["message"]
    operator_without_partner = await http.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "event_types": ["price.move"]},
        headers=bearer(operator_key),
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
        refused = await http.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": ["price.move"]},
            headers=bearer(one["api_key"]),
        )
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
        created = await http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "event_types": ["miner.alert"]},
            headers=bearer(partner["api_key"]),
        )
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
