"""Partners and keys over the real API: registration, suspension, mode changes, revocation."""

from __future__ import annotations

import httpx

from backend.runtime import Backend
from tests.api.conftest import bearer, register_partner


async def test_register_partner_returns_key_secret_and_limits_once(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    response = await http.post(
        "/api/v1/partners/register",
        json={
            "name": "Acme",
            "description": "block explorer",
            "website": "https://acme.example",
            "contact": "ops@acme.example",
            "integration_type": "explorer",
            "tier": "pro",
        },
        headers=bearer(operator_key),
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["partner_id"].startswith("ptn_")
    assert body["api_key"].startswith("hsk_") and body["api_secret"].startswith("whsec_")
    assert body["rate_limits"] == {
        "tier": "pro",
        "per_minute": 1000,
        "per_hour": 50000,
        "websocket": True,
        "ws_connections": 5,
        "ws_subscriptions": 20,
        "bulk_export": False,
    }
    me = (await http.get("/api/v1/me", headers=bearer(body["api_key"]))).json()
    assert me["owner_type"] == "partner" and me["owner_id"] == body["partner_id"]
    assert me["tier"] == "pro" and me["scopes"] == ["read", "stream"]
    listed = (await http.get("/api/v1/partners", headers=bearer(operator_key))).json()
    assert listed["total"] == 1 and listed["items"][0]["active_keys"] == 1
    # The partner sees itself but not the partner list, and never the secret again.
    own = await http.get(f"/api/v1/partners/{body['partner_id']}", headers=bearer(body["api_key"]))
    assert own.status_code == 200 and body["api_secret"] not in own.text
    assert (await http.get("/api/v1/partners", headers=bearer(body["api_key"]))).status_code == 403


async def test_partner_registration_needs_admin_and_valid_input(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    partner = await register_partner(http, operator_key)
    denied = await http.post(
        "/api/v1/partners/register", json={"name": "x"}, headers=bearer(partner["api_key"])
    )
    assert denied.status_code == 403
    bad_tier = await http.post(
        "/api/v1/partners/register",
        json={"name": "x", "tier": "platinum"},
        headers=bearer(operator_key),
    )
    assert bad_tier.status_code == 422 and bad_tier.json()["error"]["code"] == "invalid_request"
    admin_scope = await http.post(
        "/api/v1/partners/register",
        json={"name": "x", "scopes": ["read", "admin"]},
        headers=bearer(operator_key),
    )
    assert admin_scope.status_code == 422 and "admin" in admin_scope.json()["error"]["message"]


async def test_suspend_resume_and_delete_take_effect_at_once(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    partner = await register_partner(http, operator_key)
    key, pid = partner["api_key"], partner["partner_id"]
    assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 200  # now cached
    suspended = await http.post(f"/api/v1/partners/{pid}/suspend", headers=bearer(operator_key))
    assert suspended.json()["status"] == "suspended"
    assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 401
    await http.post(f"/api/v1/partners/{pid}/resume", headers=bearer(operator_key))
    assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 200
    deleted = await http.delete(f"/api/v1/partners/{pid}", headers=bearer(operator_key))
    assert deleted.json()["status"] == "deleted"
    assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 401
    again = await http.post(f"/api/v1/partners/{pid}/resume", headers=bearer(operator_key))
    assert again.status_code == 409


async def test_partner_tier_change_applies_to_its_keys(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    partner = await register_partner(http, operator_key)
    key = partner["api_key"]
    first = await http.get("/api/v1/me", headers=bearer(key))
    assert first.headers["x-ratelimit-limit"] == "100"
    await http.patch(
        f"/api/v1/partners/{partner['partner_id']}",
        json={"tier": "enterprise"},
        headers=bearer(operator_key),
    )
    after = await http.get("/api/v1/me", headers=bearer(key))
    assert after.json()["tier"] == "enterprise"
    assert after.headers["x-ratelimit-limit"] == "10000"


async def test_key_lifecycle_create_mode_reveal_revoke(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    created = await http.post(
        "/api/v1/keys",
        json={"name": "console 2", "scopes": ["read", "stream"], "expires_in_days": 30},
        headers=bearer(operator_key),
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key, key_id = created.json()["api_key"], created.json()["key"]["key_id"]
    assert created.json()["key"]["tier"] == "operator" and created.json()["key"]["expires_at"]
    assert (await http.get("/api/v1/me", headers=bearer(key))).json()["mode"] == "auto"
    changed = await http.patch(
        f"/api/v1/keys/{key_id}", json={"mode": "semi_auto"}, headers=bearer(operator_key)
    )
    assert changed.status_code == 200 and changed.json()["mode"] == "semi_auto"
    assert (await http.get("/api/v1/me", headers=bearer(key))).json()["mode"] == "semi_auto"
    revealed = await http.post(f"/api/v1/keys/{key_id}/reveal", headers=bearer(operator_key))
    assert revealed.json()["api_key"] == key and revealed.headers["cache-control"] == "no-store"
    listed = (await http.get("/api/v1/keys", headers=bearer(operator_key))).json()
    assert key_id in {item["key_id"] for item in listed["items"]}
    assert key.split("_")[2] not in str(listed)
    revoked = await http.delete(f"/api/v1/keys/{key_id}", headers=bearer(operator_key))
    assert revoked.json()["revoked_at"] is not None
    assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 401
    assert (await http.get("/api/v1/me", headers=bearer(operator_key))).status_code == 200
    gone = await http.post(f"/api/v1/keys/{key_id}/reveal", headers=bearer(operator_key))
    assert gone.status_code == 409
    audit = [e.action for e in await _audit(backend)]
    assert {"key.create", "key.update", "key.reveal", "key.revoke"} <= set(audit)


async def _audit(backend: Backend) -> list:
    from backend.core.audit import recent_audit

    async with backend.db.session() as session:
        return await recent_audit(session, 200)


async def test_partner_keys_see_only_their_own(http: httpx.AsyncClient, operator_key: str) -> None:
    one = await register_partner(http, operator_key, name="One")
    two = await register_partner(http, operator_key, name="Two")
    mine = (await http.get("/api/v1/keys", headers=bearer(one["api_key"]))).json()
    assert [k["key_id"] for k in mine["items"]] == [one["key_id"]]
    other = await http.get(f"/api/v1/keys/{two['key_id']}", headers=bearer(one["api_key"]))
    assert other.status_code == 404
    steal = await http.post(f"/api/v1/keys/{two['key_id']}/reveal", headers=bearer(one["api_key"]))
    assert steal.status_code == 404
    change = await http.patch(
        f"/api/v1/keys/{one['key_id']}", json={"mode": "semi_auto"}, headers=bearer(one["api_key"])
    )
    assert change.status_code == 403


async def test_usage_is_counted_per_key(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    partner = await register_partner(http, operator_key)
    for _ in range(3):
        await http.get("/api/v1/me", headers=bearer(partner["api_key"]))
    await http.get("/api/v1/keys/hsk_nope", headers=bearer(partner["api_key"]))
    usage = await http.get(
        f"/api/v1/keys/{partner['key_id']}/usage", headers=bearer(partner["api_key"])
    )
    row = usage.json()["items"][0]
    assert row["requests"] >= 4 and row["errors"] >= 1
