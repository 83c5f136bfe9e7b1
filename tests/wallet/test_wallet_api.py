"""Sign-In with Ethereum over real HTTP: the original routes, every rejection, the login log."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import update

from backend.core.settings import SettingsError
from backend.runtime import Backend
from backend.settings import load_settings
from backend.sim.ipapi import IpApiSimulator
from backend.wallet.models import WalletNonceRow
from backend.wallet.service import WalletService
from backend.wallet.siwe import parse
from hashinsight_contract.events import parse_payload
from hashinsight_contract.wallet import PRIVATE_LOGIN_FIELDS, WalletLoginEvent
from tests.helpers import isolated_env

ALICE = Account.from_key("0x" + "a1" * 32)
MALLORY = Account.from_key("0x" + "b2" * 32)


def http(backend: Backend, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=backend.url, headers=headers, trust_env=False, timeout=20)


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


async def nonce(client: httpx.AsyncClient, address: str, **kw: Any) -> dict[str, Any]:
    response = await client.post("/api/wallet/nonce", json={"wallet_address": address}, **kw)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def login(
    client: httpx.AsyncClient, address: str, signature: str, nonce_value: str, **kw: Any
) -> httpx.Response:
    body = {"wallet_address": address, "signature": signature, "nonce": nonce_value}
    return await client.post("/api/wallet/login", json=body, **kw)


async def logins(backend: Backend, **params: str) -> list[dict[str, Any]]:
    key = backend.initial_operator_key
    async with http(backend, Authorization=f"Bearer {key}") as client:
        response = await client.get("/api/v1/wallet/logins", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def rejected(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


async def test_sign_in_issues_a_session_that_shows_the_partners_keys(backend: Backend) -> None:
    _info, alice_key = await backend.auth.create_key(
        name="alice live", owner_type="partner", owner_id=ALICE.address.lower(), scopes="read"
    )
    await backend.auth.create_key(
        name="someone else", owner_type="partner", owner_id=MALLORY.address.lower()
    )
    async with http(backend) as client:
        issued = await nonce(client, ALICE.address.lower())  # any case in, EIP-55 out
        message = parse(issued["message"])
        host = backend.url.removeprefix("http://")
        assert (message.domain, message.uri) == (host, f"{backend.url}/login")
        assert message.address == ALICE.address and message.nonce == issued["nonce"]
        assert message.chain_id == issued["chain_id"] == 84532
        assert message.expiration_time == issued["expires_at"]
        response = await login(
            client, ALICE.address, sign(ALICE, issued["message"]), issued["nonce"]
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] and body["wallet_address"] == ALICE.address
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        me = (await client.get("/api/wallet/me")).json()
        assert me["wallet_address"] == ALICE.address
        assert [k["name"] for k in me["keys"]] == ["alice live"]
        key_id = me["keys"][0]["key_id"]
        revealed = await client.post(f"/api/wallet/keys/{key_id}/reveal")
        assert revealed.json() == {"key_id": key_id, "api_key": alice_key}
        others = [k for k in await backend.auth.list_keys() if k.name == "someone else"]
        foreign = await client.post(f"/api/wallet/keys/{others[0].key_id}/reveal")
        assert foreign.status_code == 404
        assert (await client.post("/api/wallet/logout")).json() == {"ok": True}
        rejected(await client.get("/api/wallet/me"), 401, "not signed in")
    async with http(backend, **{"X-Wallet-Session": body["session_token"]}) as client:
        rejected(await client.get("/api/wallet/me"), 401, "not signed in")  # revoked for good
    entries = await logins(backend)
    assert entries[0]["outcome"] == "ok" and entries[0]["address"] == ALICE.address.lower()


async def test_replay_expiry_domain_and_signature_are_all_rejected(backend: Backend) -> None:
    async with http(backend) as client:
        issued = await nonce(client, ALICE.address)
        good = sign(ALICE, issued["message"])
        assert (await login(client, ALICE.address, good, issued["nonce"])).status_code == 200
        rejected(await login(client, ALICE.address, good, issued["nonce"]), 401, "already used")

        expired = await nonce(client, ALICE.address)
        async with backend.db.session() as session:
            await session.execute(
                update(WalletNonceRow)
                .where(WalletNonceRow.nonce == expired["nonce"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        response = await login(
            client, ALICE.address, sign(ALICE, expired["message"]), expired["nonce"]
        )
        rejected(response, 401, "expired")

        # A message naming another domain (issued before a change of public_url, say).
        other_site = await nonce(client, ALICE.address)
        foreign_text = other_site["message"].replace(
            backend.url.removeprefix("http://"), "partners.example", 1
        )
        async with backend.db.session() as session:
            await session.execute(
                update(WalletNonceRow)
                .where(WalletNonceRow.nonce == other_site["nonce"])
                .values(message=foreign_text)
            )
        signed = sign(ALICE, foreign_text)
        rejected(
            await login(client, ALICE.address, signed, other_site["nonce"]),
            401,
            "is for partners.example",
        )

        forged = await nonce(client, ALICE.address)
        by_mallory = sign(MALLORY, forged["message"])
        rejected(
            await login(client, ALICE.address, by_mallory, forged["nonce"]),
            401,
            "not made by this address",
        )

        altered = await nonce(client, ALICE.address)
        tampered = altered["message"].replace("Chain ID: 84532", "Chain ID: 1")
        rejected(
            await login(client, ALICE.address, sign(ALICE, tampered), altered["nonce"]),
            401,
            "not made by this address",
        )  # the stored text is what must be signed

        garbage = await nonce(client, ALICE.address)
        rejected(await login(client, ALICE.address, "0x1234", garbage["nonce"]), 401, "malformed")

        theirs = await nonce(client, MALLORY.address)
        stolen = sign(ALICE, theirs["message"])
        rejected(
            await login(client, ALICE.address, stolen, theirs["nonce"]),
            401,
            "issued to another address",
        )

        sent = await nonce(client, ALICE.address)
        body = {
            "wallet_address": ALICE.address,
            "signature": sign(ALICE, sent["message"]),
            "nonce": sent["nonce"],
            "message": sent["message"] + " ",
        }
        rejected(await client.post("/api/wallet/login", json=body), 401, "differs")

        rejected(await login(client, ALICE.address, good, "NoSuchNonce123"), 401, "unknown nonce")
        rejected(await login(client, "0xnope", good, issued["nonce"]), 400, "wallet_address")
        bad = await client.post("/api/wallet/nonce", json={"wallet_address": "not-an-address"})
        rejected(bad, 400, "wallet_address")
        rejected(await client.post("/api/wallet/nonce", json={}), 400, "wallet_address")
    entries = await logins(backend)
    reasons = [e["reason"] for e in entries if e["outcome"] == "rejected"]
    assert len(reasons) == 10 and any("already used" in r for r in reasons)
    assert [e["outcome"] for e in entries].count("ok") == 1
    assert all(e["ip"] == "127.0.0.1" and e["geo_status"] == "skipped" for e in entries)
    only_ok = await logins(backend, outcome="ok")
    assert len(only_ok) == 1
    assert len(await logins(backend, q="expired")) == 1


@pytest.fixture
async def limited_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    overrides = {"api_port": 0, "notary_enabled": False}
    overrides |= {"wallet_rate_per_ip_min": 30, "wallet_rate_per_address_min": 2}
    backend = Backend(load_settings(isolated_env(tmp_path), overrides=overrides), mode="serve")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()


async def test_nobody_can_spend_an_address_s_limit_but_its_owner(
    limited_backend: Backend,
) -> None:
    """Nonces and sign-in attempts count per IP; per address only sign-ins whose signature
    proved the address count, so naming Alice's address a hundred times locks nobody out."""
    backend = limited_backend
    async with http(backend) as client:
        for _ in range(5):  # someone else, in Alice's name
            await nonce(client, ALICE.address)
            rejected(await login(client, ALICE.address, "0x00", "NoSuchNonce123"), 401, "nonce")
        for _ in range(2):  # Alice signs in: the attempts above did not count for her
            issued = await nonce(client, ALICE.address)
            signed = sign(ALICE, issued["message"])
            assert (await login(client, ALICE.address, signed, issued["nonce"])).status_code == 200
        issued = await nonce(client, ALICE.address)
        third = await login(client, ALICE.address, sign(ALICE, issued["message"]), issued["nonce"])
        rejected(third, 429, "too many login requests")  # her own limit: 2 a minute here
        assert int(third.headers["retry-after"]) >= 1
        for _ in range(30 - 8):
            await nonce(client, MALLORY.address)
        rejected(
            await client.post("/api/wallet/nonce", json={"wallet_address": MALLORY.address}),
            429,
            "too many nonce requests",
        )  # 30 nonces a minute from one IP, whatever the addresses
    assert len(await logins(backend, outcome="rate_limited")) == 1


async def test_geolocation_through_a_trusted_proxy_only(
    wallet_backend: Backend, ipapi_sim: IpApiSimulator
) -> None:
    wallet = wallet_backend.services_by_name["wallet"]
    assert isinstance(wallet, WalletService)
    async with http(wallet_backend, **{"X-Forwarded-For": "6.6.6.6, 24.48.0.1"}) as client:
        issued = await nonce(client, ALICE.address)
        response = await login(
            client, ALICE.address, sign(ALICE, issued["message"]), issued["nonce"]
        )
        assert response.status_code == 200
        await login(client, ALICE.address, "0x00", issued["nonce"])  # a bad one, same place
    await wallet.wait_geolocated()
    entries = await logins(wallet_backend)
    assert [e["outcome"] for e in entries] == ["rejected", "ok"]
    for entry in entries:
        assert entry["ip"] == "24.48.0.1"  # the right-most address the proxy saw, not 6.6.6.6
        assert (entry["geo_status"], entry["city"], entry["country_code"]) == (
            "ok",
            "Montreal",
            "CA",
        )
    assert ipapi_sim.requests == ["24.48.0.1"]  # cached for the second attempt
    assert len(await logins(wallet_backend, q="montreal")) == 2


async def test_login_events_stream_without_the_ip(backend: Backend, operator_key: str) -> None:
    url = backend.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "channels": ["wallet"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        async with http(backend) as client:
            await login(client, ALICE.address, "0x00", "NoSuchNonce123")
        event = json.loads(await ws.recv())
    assert event["channel"] == "wallet" and event["event"] == "wallet.login"
    assert event["data"]["outcome"] == "rejected" and "ip" not in event["data"]
    payload = parse_payload(event["event"], event["data"])  # what any client reads it as
    assert isinstance(payload, WalletLoginEvent)
    assert not set(PRIVATE_LOGIN_FIELDS) & set(event["data"])


async def test_page_log_access_and_untrusted_forwarded_for(backend: Backend) -> None:
    """Three facts of one default backend (each is cheap; a backend is not)."""
    # X-Forwarded-For is not trusted by default: the socket's address is logged
    async with http(backend, **{"X-Forwarded-For": "24.48.0.1"}) as client:
        await login(client, ALICE.address, "0x00", "NoSuchNonce123")
    entry = (await logins(backend))[0]
    assert entry["ip"] == "127.0.0.1" and entry["geo_status"] == "skipped"
    # the login log is for operators only
    _info, reader = await backend.auth.create_key(name="partner", owner_type="partner")
    async with http(backend, Authorization=f"Bearer {reader}") as client:
        rejected(await client.get("/api/v1/wallet/logins"), 403, "admin")
    # the login page is self-contained
    async with http(backend) as client:
        page = await client.get("/login")
        script = await client.get("/login/app.js")
        style = await client.get("/login/app.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == ["/login/app.css", "/login/app.js"]  # nothing from a CDN
    assert script.status_code == 200 and "personal_sign" in script.text
    assert "innerHTML" not in script.text and "eval(" not in script.text
    assert style.status_code == 200


async def test_a_public_url_any_wallet_accepts_signs_in(tmp_path: Path) -> None:
    """A Docker service name (an underscore) works end to end, an international name goes
    in as punycode; either used to be accepted by the settings and then refuse every sign-in
    after the user had signed."""
    idn = load_settings(isolated_env(tmp_path), overrides={"public_url": "https://bücher.example"})
    assert idn.public_url == "https://xn--bcher-kva.example"
    overrides = {
        "api_port": 0,
        "notary_enabled": False,
        "public_url": "http://hashinsight_api:8766",
    }
    backend = Backend(load_settings(isolated_env(tmp_path), overrides=overrides), mode="serve")
    await backend.start()
    try:
        async with http(backend) as client:
            issued = await nonce(client, ALICE.address)
            assert issued["domain"] == "hashinsight_api:8766"
            signed = sign(ALICE, issued["message"])
            assert (await login(client, ALICE.address, signed, issued["nonce"])).status_code == 200
    finally:
        await backend.stop()


def test_a_public_url_whose_path_no_message_can_carry_is_refused_at_load(
    tmp_path: Path,
) -> None:
    with pytest.raises(SettingsError, match=r"public_url.*percent-encode"):
        load_settings(isolated_env(tmp_path), overrides={"public_url": "https://x.example/my app"})
