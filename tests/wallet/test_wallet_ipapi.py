"""The IP-API client against the simulator, and the simulator against the captured response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.sim.ipapi import IpApiSimulator
from backend.wallet.ipapi import FIELDS, IpApiClient
from tests.wallet.conftest import IP_API_FIXTURE


@pytest.fixture
async def http() -> AsyncIterator[HttpClientFactory]:
    factory = HttpClientFactory(HealthRegistry(EventBus()), retries=0, timeout_s=5.0)
    try:
        yield factory
    finally:
        await factory.aclose()


async def test_simulator_answers_like_the_captured_response(ipapi_sim: IpApiSimulator) -> None:
    captured = json.loads(IP_API_FIXTURE.read_text())
    async with httpx.AsyncClient(base_url=ipapi_sim.url, trust_env=False) as client:
        full = await client.get(f"/json/{captured['query']}")
        assert full.json() == captured
        assert int(full.headers["X-Rl"]) == 44 and 0 < int(full.headers["X-Ttl"]) <= 60
        some = (await client.get("/json/24.48.0.1", params={"fields": "status,city,lat"})).json()
        assert some == {"status": "success", "city": "Montreal", "lat": 45.6085}
        other = (await client.get("/json/8.8.4.4")).json()
        assert set(other) == set(captured) and other["status"] == "success"
        assert (await client.get("/json/192.168.1.1")).json()["message"] == "private range"
        assert (await client.get("/json/127.0.0.1")).json()["message"] == "reserved range"
        assert (await client.get("/json/1.1.1.one")).json()["message"] == "invalid query"


async def test_client_parses_caches_and_never_sends_private_addresses(
    http: HttpClientFactory, ipapi_sim: IpApiSimulator
) -> None:
    client = IpApiClient(http, ipapi_sim.url)
    geo = await client.locate("24.48.0.1")
    assert (geo.status, geo.city, geo.country_code, geo.region) == (
        "ok",
        "Montreal",
        "CA",
        "Quebec",
    )
    assert geo.lat == 45.6085 and geo.isp == "Le Groupe Videotron Ltee"
    assert await client.locate("24.48.0.1") == geo  # cached: one call only
    for private in ("10.1.2.3", "127.0.0.1", "::1", "192.168.0.7"):
        skipped = await client.locate(private)
        assert skipped.status == "skipped"
    assert ipapi_sim.requests == ["24.48.0.1"]
    assert client.peek("24.48.0.1") == geo and client.peek("8.8.8.8") is None
    assert set(FIELDS.split(",")) >= {"status", "message", "country", "city", "lat", "lon"}


async def test_client_honours_x_rl_and_keeps_its_own_window(
    http: HttpClientFactory, ipapi_sim: IpApiSimulator
) -> None:
    strict = IpApiSimulator(per_minute=3)
    await strict.start()
    clock = ManualClock()
    try:
        client = IpApiClient(http, strict.url, per_minute=45, clock=clock)
        for n in range(3):
            assert (await client.locate(f"8.8.8.{n + 1}")).status == "ok"
        # the server said X-Rl: 0, so the client waits rather than calling into a 429
        limited = await client.locate("8.8.8.9", wait=False)
        assert limited.status == "rate_limited" and len(strict.requests) == 3
        clock.advance(61)
        assert client.wait_s() == 0
    finally:
        await strict.stop()
    fresh = HttpClientFactory(HealthRegistry(EventBus()), retries=0)  # one provider per URL
    try:
        own = IpApiClient(fresh, ipapi_sim.url, per_minute=2, clock=ManualClock())
        assert (await own.locate("9.9.9.1")).status == "ok"
        assert (await own.locate("9.9.9.2")).status == "ok"
        assert (await own.locate("9.9.9.3", wait=False)).status == "rate_limited"
        assert ipapi_sim.requests == ["9.9.9.1", "9.9.9.2"]
    finally:
        await fresh.aclose()


async def test_a_429_blocks_further_calls(http: HttpClientFactory) -> None:
    sim = IpApiSimulator(per_minute=1)
    await sim.start()
    try:
        first = IpApiClient(http, sim.url)
        assert (await first.locate("8.8.8.1")).status == "ok"
        second = IpApiClient(http, sim.url)  # knows nothing of the first's headers
        assert (await second.locate("8.8.8.2", wait=False)).status == "rate_limited"
        assert second.wait_s() > 0
        assert (await second.locate("8.8.8.3", wait=False)).status == "rate_limited"
        assert sim.requests == ["8.8.8.1"]
    finally:
        await sim.stop()
