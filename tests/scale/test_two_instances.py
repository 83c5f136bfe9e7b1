"""Two whole backends on one PostgreSQL and one Redis, as two API instances behind a balancer:
a rate limit is one limit, and a key revoked on one is refused by the other at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import isolated_env

PER_HOUR = 8  # an hour window: a boundary inside the test is all but impossible (and waited out)


@pytest.fixture
async def pair(
    tmp_path: Path, pg_database: str, redis_url: str
) -> AsyncIterator[tuple[Backend, Backend]]:
    shared = {
        "api_port": 0,
        "database_url": pg_database,
        "redis_url": redis_url,
        "pepper": "p" * 32,
        "fernet_key": Fernet.generate_key().decode(),
        "market_enabled": False,
        "fleet_enabled": False,
        "notary_enabled": False,
        "issuer_enabled": False,
        "ratelimit_operator_per_hour": PER_HOUR,
    }
    backends: list[Backend] = []
    try:
        for name in ("a", "b"):
            env = await asyncio.to_thread(isolated_env, tmp_path / name)  # may migrate a template
            settings = load_settings(env, overrides=shared)
            backend = Backend(settings, mode="serve")
            backends.append(backend)
            await backend.start()
        yield backends[0], backends[1]
    finally:
        for backend in reversed(backends):
            if hasattr(backend, "db"):
                await backend.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_rate_limit_is_one_limit_across_instances(pair: tuple[Backend, Backend]) -> None:
    a, b = pair
    _info, key = await a.auth.create_key(name="shared limit", scopes="read", tier="operator")
    async with (
        httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.url, trust_env=False, timeout=10) as on_b,
    ):
        if time.time() % 3600 > 3600 - 30:  # too close to the hour's end: wait it out
            await asyncio.sleep(3600 - time.time() % 3600 + 1)
        statuses = []
        for n in range(PER_HOUR + 2):
            response = await (on_a if n % 2 else on_b).get("/api/v1/me", headers=bearer(key))
            statuses.append(response.status_code)
        assert statuses == [200] * PER_HOUR + [429] * 2
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["Retry-After"]) >= 1
    item = next(i for i in b.health_report().integrations if i.name == "redis-limits")
    assert item.status == "ok"


async def test_key_revoked_on_one_instance_is_refused_by_the_other(
    pair: tuple[Backend, Backend],
) -> None:
    a, b = pair
    admin = a.initial_operator_key
    assert admin is not None
    info, key = await a.auth.create_key(name="to revoke", scopes="read", tier="operator")
    async with (
        httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b.url, trust_env=False, timeout=10) as on_b,
    ):
        assert (await on_b.get("/api/v1/me", headers=bearer(key))).status_code == 200
        assert b.auth._good  # B holds the key in its cache (TTL 60 s)
        revoked = await on_a.delete(f"/api/v1/keys/{info.key_id}", headers=bearer(admin))
        assert revoked.status_code == 200, revoked.text
        deadline = asyncio.get_running_loop().time() + 20  # far below the cache TTL
        while (await on_b.get("/api/v1/me", headers=bearer(key))).status_code != 401:
            assert asyncio.get_running_loop().time() < deadline, "B still accepts the key"
            await asyncio.sleep(0.02)
