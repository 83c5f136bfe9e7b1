"""The Sign-In domain and URI come from the configured public origin, never the Host header.

Real HTTP against a live backend: a phishing site relaying the API (any Host it likes) gets
messages that name our domain, and no login is accepted for a message naming another one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from backend.runtime import Backend
from backend.settings import SettingsError, load_settings
from backend.wallet.models import WalletNonceRow
from backend.wallet.siwe import parse
from tests.helpers import isolated_env
from tests.wallet.test_wallet_api import ALICE, http, login, nonce, rejected, sign

EVIL = {"Host": "evil.example"}


async def _backend(tmp_path: Path, **overrides: Any) -> Backend:
    settings = load_settings(
        isolated_env(tmp_path),
        overrides={"api_port": 0, "notary_enabled": False, "issuer_enabled": False, **overrides},
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    return backend


@pytest.fixture
async def public_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    backend = await _backend(tmp_path, public_url="https://HashInsight.example.com/")
    try:
        yield backend
    finally:
        await backend.stop()


async def test_a_foreign_host_gets_our_domain_by_default(backend: Backend) -> None:
    ours = backend.url.removeprefix("http://")  # port 0: the port bound at start
    async with http(backend) as client:
        issued = await nonce(client, ALICE.address, headers=EVIL)
        assert issued["message"].startswith(f"{ours} wants you to sign in")
        assert "evil.example" not in issued["message"]
        message = parse(issued["message"])
        assert (message.domain, message.uri) == (ours, f"{backend.url}/login")
        assert (issued["domain"], issued["uri"]) == (ours, f"{backend.url}/login")
        # The message names us, so it signs in whatever Host the relay sends: the wallet, not
        # the Host header, is what tells the user which site asks.
        response = await login(
            client, ALICE.address, sign(ALICE, issued["message"]), issued["nonce"], headers=EVIL
        )
        assert response.status_code == 200, response.text


async def test_a_message_naming_the_relaying_host_never_signs_in(backend: Backend) -> None:
    ours = backend.url.removeprefix("http://")
    async with http(backend) as client:
        issued = await nonce(client, ALICE.address, headers=EVIL)
        phished = issued["message"].replace(ours, "evil.example", 1)
        async with backend.db.session() as session:
            await session.execute(
                update(WalletNonceRow)
                .where(WalletNonceRow.nonce == issued["nonce"])
                .values(message=phished, domain="evil.example")
            )
        response = await login(
            client, ALICE.address, sign(ALICE, phished), issued["nonce"], headers=EVIL
        )
        rejected(response, 401, f"is for evil.example, not {ours}")


async def test_public_url_names_the_proxy_origin_whatever_the_host(
    public_backend: Backend,
) -> None:
    """Behind a TLS proxy: the public origin, whether or not the proxy forwards Host."""
    for headers in ({}, EVIL, {"Host": "hashinsight.example.com"}):
        async with http(public_backend) as client:
            issued = await nonce(client, ALICE.address, headers=headers)
            message = parse(issued["message"])
            assert message.domain == "hashinsight.example.com"
            assert message.uri == "https://hashinsight.example.com/login"
            response = await login(
                client,
                ALICE.address,
                sign(ALICE, issued["message"]),
                issued["nonce"],
                headers=headers,
            )
            assert response.status_code == 200, response.text
            assert "secure" in response.headers["set-cookie"].lower()  # https origin


async def test_the_older_overrides_still_win(tmp_path: Path) -> None:
    backend = await _backend(
        tmp_path,
        public_url="https://hashinsight.example.com",
        wallet_siwe_domain="login.example.com",
        wallet_siwe_uri="https://login.example.com/signin",
    )
    try:
        async with http(backend) as client:
            issued = await nonce(client, ALICE.address, headers=EVIL)
        message = parse(issued["message"])
        assert (message.domain, message.uri) == (
            "login.example.com",
            "https://login.example.com/signin",
        )
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    "value",
    ["ftp://example.com", "https://user:pw@example.com", "https://example.com/?k=1", "example"],
)
def test_public_url_must_be_a_plain_http_origin(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="public_url"):
        load_settings(isolated_env(tmp_path, HASHINSIGHT_PUBLIC_URL=value))


def test_public_url_is_read_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        isolated_env(tmp_path, HASHINSIGHT_PUBLIC_URL="https://Site.example:8443/hi/")
    )
    assert settings.public_url == "https://site.example:8443/hi"
