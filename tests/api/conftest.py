"""A backend for the partner-API tests: other domains' pollers off, fast retries, loopback
webhooks allowed, small failed-auth thresholds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.runtime import Backend
from backend.settings import Settings, load_settings
from tests.conftest import isolated_env

FAST: dict[str, Any] = {
    "api_port": 0,
    "health_check_interval_s": 1.0,
    "ws_heartbeat_s": 2.0,
    "market_enabled": False,
    "notary_enabled": False,
    "issuer_enabled": False,
    "webhooks_allow_private": True,
    "webhooks_allow_http": True,
    "webhooks_retry_schedule_s": [0.05, 0.05, 0.05],
    "webhooks_timeout_s": 2.0,
    "webhooks_disable_after": 5,
    "auth_fail_slow_after": 3,
    "auth_fail_block_after": 6,
    "auth_block_s": 60.0,
    "auth_slow_max_s": 0.3,
    "key_usage_flush_s": 0.2,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(isolated_env(tmp_path), overrides=FAST)


@pytest.fixture
async def http(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=10) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def register_partner(
    http: httpx.AsyncClient, operator_key: str, **body: Any
) -> dict[str, Any]:
    payload = {"name": "Acme Explorer", "integration_type": "explorer", **body}
    response = await http.post(
        "/api/v1/partners/register", json=payload, headers=bearer(operator_key)
    )
    assert response.status_code == 201, response.text
    return response.json()
