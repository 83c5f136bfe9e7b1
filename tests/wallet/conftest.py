"""A backend whose wallet trusts the loopback proxy and geolocates through the IP-API simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.runtime import Backend
from backend.settings import load_settings
from backend.sim.ipapi import IpApiSimulator
from tests.helpers import isolated_env

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "data" / "captures"
IP_API_FIXTURE = FIXTURES_DIR / "markets" / "ip_api_json.json"


@pytest.fixture
async def ipapi_sim() -> AsyncIterator[IpApiSimulator]:
    sim = IpApiSimulator()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def wallet_backend(tmp_path: Path, ipapi_sim: IpApiSimulator) -> AsyncIterator[Backend]:
    settings = load_settings(
        isolated_env(tmp_path),
        overrides={
            "api_port": 0,
            "wallet_trusted_proxies": "127.0.0.1",
            "ipapi_url": ipapi_sim.url,
            "wallet_rate_per_ip_min": 1000,
            "wallet_rate_per_address_min": 1000,
            "notary_enabled": False,
        },
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()
