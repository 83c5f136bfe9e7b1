"""Control credentials: encrypted at rest, masked everywhere, resolved miner > site > factory
default, set from the CLI (password on stdin) and the admin API; a backend uses them for the
stock Antminer web CGI."""

from __future__ import annotations

import asyncio as _asyncio
import io
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from backend.core.db import Database
from backend.fleet.credentials import CredentialStore
from backend.fleet.models import FleetCredentialRow
from backend.runtime import Backend
from backend.settings import Settings
from backend.sim.fleet import FleetSimulator
from hashinsight_cli import main as cli
from tests.helpers import isolated_env

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_stored_encrypted_resolved_miner_then_site_then_default(database: Database) -> None:
    fernet = Fernet(Fernet.generate_key())
    store = CredentialStore(database, fernet)
    default = await store.resolve("m1", "North", "web")
    assert (default.username, default.password, default.source) == (
        "root",
        "root",
        "factory default",
    )
    common = {"kind": "web", "actor": "test", "now": NOW}
    await store.set(
        scope="site", target="North", username="ops", password="site-pw", port=8080, **common
    )
    await store.set(
        scope="miner", target="m1", username=None, password="miner-pw", port=None, **common
    )
    async with database.session() as session:
        rows = (await session.scalars(select(FleetCredentialRow))).all()
    assert all(b"-pw" not in (row.secret_encrypted or b"") for row in rows)
    mine = await store.resolve("m1", "North", "web")
    assert (mine.username, mine.password, mine.source) == ("root", "miner-pw", "miner m1")
    site = await store.resolve("m2", "North", "web")
    assert (site.username, site.password, site.port) == ("ops", "site-pw", 8080)
    assert "site-pw" not in repr(site)
    other_key = CredentialStore(database, Fernet(Fernet.generate_key()))
    broken = await other_key.resolve("m2", "North", "web")
    assert broken.password is None and "cannot be decrypted" in str(broken.error)
    assert await store.remove(scope="miner", target="m1", kind="web", actor="test")
    assert (await store.resolve("m1", "North", "web")).source == "site North"


def test_cli_sets_from_stdin_lists_masked_and_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-pw\n"))
    args = ["fleet", "credentials", "set", "--site", "North", "--kind", "web", "--user", "ops"]
    assert cli.main([*args, "--port", "8080"]) == 0
    assert cli.main(["fleet", "credentials", "list"]) == 0
    out = capsys.readouterr().out
    assert "North" in out and "password=********" in out and "port=8080" in out
    assert "s3cret" not in out and "(default)" in out
    remove = ["fleet", "credentials", "remove", "--site", "North", "--kind", "web"]
    assert cli.main(remove) == 0
    assert cli.main(remove) == 1


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(1, use_ports=True, families=["antminer"], web_port=0) as fleet:
        yield fleet


@pytest.fixture
def settings(settings: Settings, sim: FleetSimulator) -> Settings:
    miner = sim.miners[0]  # the web port comes from the credentials, not the inventory
    entries = [{"address": f"{miner.host}:{miner.port}", "site": "North"}]
    return settings.model_copy(update={"miners": entries, "fleet_poll_interval_s": 0.3})


async def call(backend: Backend, method: str, path: str, key: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=20) as http:
        return await http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)


async def test_admin_api_stores_masked_and_the_backend_uses_it(
    backend: Backend, operator_key: str, sim: FleetSimulator
) -> None:
    web = sim.miners[0].web
    assert web is not None
    web.password = "site-secret"
    body = {"scope": "site", "target": "North", "kind": "web", "user": "root"}
    body |= {"password": "site-secret", "port": web.port}
    _info, controller = await backend.auth.create_key(name="ops", scopes=["read", "fleet:control"])
    assert (
        await call(backend, "PUT", "/api/v1/fleet/credentials", controller, json=body)
    ).status_code == 403
    stored = await call(backend, "PUT", "/api/v1/fleet/credentials", operator_key, json=body)
    assert stored.status_code == 200 and stored.json()["password"] == "********"
    listed = (await call(backend, "GET", "/api/v1/fleet/credentials", operator_key)).json()
    assert "site-secret" not in str(listed)
    assert listed["defaults"]["web"] == "factory default: user root, the factory password"

    miner_id = f"{sim.miners[0].host}:{sim.miners[0].port}"
    fleet: Any = backend.services_by_name["fleet"]
    for _ in range(100):
        if fleet.poller.states[miner_id].family is not None:
            break
        await _asyncio.sleep(0.05)
    path = f"/api/v1/miners/{miner_id}/commands"
    done = await call(backend, "POST", path, operator_key, json={"command": "sleep"})
    assert done.json()["state"] == "succeeded", done.text
    assert done.json()["verification"] == "verified: work mode is sleep"
    assert sim.miners[0].sleeping
    gone = await call(
        backend,
        "DELETE",
        "/api/v1/fleet/credentials/site/web",
        operator_key,
        params={"target": "North"},
    )
    assert gone.status_code == 204
