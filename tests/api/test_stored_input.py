"""Input the database would refuse or misread is answered 4xx, on both engines.

PostgreSQL refuses a NUL in text and a string over its column with an error SQLite never
raises: those were 500s with the statement's parameters (a new key's hash and sealed copy) in
the server's traceback. Real HTTP against a backend on each engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.runtime import Backend
from backend.settings import load_settings
from tests.api.conftest import FAST
from tests.helpers import isolated_env


@pytest.fixture
async def http(tmp_path: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    overrides = {**FAST, "database_url": database_url, "api_port": 0}
    backend = Backend(load_settings(isolated_env(tmp_path), overrides=overrides), mode="serve")
    await backend.start()
    key = backend.initial_operator_key
    try:
        async with httpx.AsyncClient(
            base_url=backend.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            yield client
    finally:
        await backend.stop()


def refused(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    return str(error["message"])


async def test_a_nul_in_text_is_refused_not_a_500(http: httpx.AsyncClient) -> None:
    """The same answer on either engine: PostgreSQL cannot store a NUL, SQLite would."""
    asked = [
        http.post("/api/v1/partners/register", json={"name": "a\u0000b"}),
        http.post("/api/v1/keys", json={"name": "a\u0000b", "scopes": ["read"]}),
        http.post(
            "/api/wallet/login",
            json={"wallet_address": "0x" + "a" * 40, "signature": "0x00", "nonce": "\u0000"},
        ),
    ]
    for call in asked:
        assert "NUL character" in refused(await call, 400)
    for query in (  # matched or stored: PostgreSQL refuses the NUL, answered 422, not 500
        http.get("/api/v1/wallet/logins", params={"q": "\u0000"}),
        http.delete("/api/v1/fleet/credentials/site/web", params={"target": "a\u0000"}),
    ):
        assert (await query).status_code in (200, 204, 404, 422)
    # an escaped backslash before "u0000" is text, not a NUL
    text = await http.post("/api/v1/keys", json={"name": "a\\u0000b", "scopes": ["read"]})
    assert text.status_code == 201, text.text
    assert text.json()["key"]["name"] == "a\\u0000b"


async def test_a_key_with_the_longest_name_can_still_act(http: httpx.AsyncClient) -> None:
    """Its actor (key id and name) is cut to the audit columns' width, not refused by them."""
    body = {"name": "n" * 120, "scopes": ["admin"]}
    created = await http.post("/api/v1/keys", json=body)
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
    acted = await http.post(
        "/api/v1/keys", json={"name": "made by a long name", "scopes": ["read"]}, headers=headers
    )
    assert acted.status_code == 201, acted.text


async def test_a_partner_with_the_longest_name_gets_its_key(http: httpx.AsyncClient) -> None:
    registered = await http.post("/api/v1/partners/register", json={"name": "p" * 120})
    assert registered.status_code == 201, registered.text
    listed = (await http.get("/api/v1/partners")).json()
    assert [p["active_keys"] for p in listed["items"]] == [1]


async def test_a_tiny_lifetime_is_not_forever(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/api/v1/keys", json={"name": "tiny", "scopes": ["read"], "expires_in_days": 1e-15}
    )
    assert created.status_code == 201, created.text
    assert created.json()["key"]["expires_at"] is not None


async def test_an_invalid_change_is_422_and_a_revoked_key_409(http: httpx.AsyncClient) -> None:
    created = (await http.post("/api/v1/keys", json={"name": "k", "scopes": ["read"]})).json()
    path = f"/api/v1/keys/{created['key']['key_id']}"
    assert "1 to 120" in refused(await http.patch(path, json={"name": "   "}))
    assert (await http.delete(path)).status_code in (200, 204)
    assert "revoked" in refused(await http.patch(path, json={"name": "again"}), 409)
