"""Prices, exchanges and network over the real API (HTTP and WebSocket) of a loopback backend
whose providers are the simulators."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets

from backend.runtime import Backend
from backend.settings import Settings
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator

FAST = {
    "market_enabled": True,  # the shared settings turn it off (no internet in tests)
    "health_check_interval_s": 3600.0,  # see the report: the 1 s health loop can hang stop()
    "price_poll_s": 0.2,
    "exchanges_poll_s": 0.2,
    "network_poll_s": 0.2,
    "blocks_poll_s": 0.2,
    "http_timeout_s": 0.5,
    "exchange_timeout_s": 0.5,
}


@pytest.fixture
async def live(settings: Settings, sim: MarketSimulator) -> AsyncIterator[Backend]:
    instance = Backend(settings.model_copy(update={**sim.settings_overrides(), **FAST}))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def key_of(backend: Backend) -> str:
    assert backend.initial_operator_key is not None
    return backend.initial_operator_key


async def get(backend: Backend, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=5) as http:
        return await http.get(path, headers=headers)


async def wait_for(
    backend: Backend,
    path: str,
    check: Callable[[dict[str, Any]], bool],
    within_s: float = 10,
    key: str | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    body: Any = None
    while time.monotonic() < deadline:
        response = await get(backend, path, key or key_of(backend))
        body = response.json()
        if response.status_code == 200 and check(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the check; last answer: {str(body)[:400]}")


async def test_current_price_carries_source_age_and_staleness(
    live: Backend, sim: MarketSimulator
) -> None:
    assert (await get(live, "/api/v1/prices/current")).status_code == 401
    price = await wait_for(live, "/api/v1/prices/current", lambda b: True)
    assert price["source"] == "coingecko" and price["stale"] is False and price["via"] == "live"
    assert price["price_usd"] > 0 and isinstance(price["change_24h_pct"], float)
    assert price["volume_24h_usd"] > 0 and price["as_of"] <= time.time() + 1
    for name in ("coingecko", "blockchain_info", "mempool"):
        sim.server(name).set_fault(Fault.HTTP_429, retry_after_s=60)
    cached = await wait_for(live, "/api/v1/prices/current", lambda b: b["via"] == "cache")
    assert cached["stale"] is True and cached["age_s"] >= 0
    assert all("rate limited" in (a["error"] or "") for a in cached["attempts"])


async def test_price_history_periods_and_validation(live: Backend) -> None:
    history = await wait_for(live, "/api/v1/prices/history?period=7d", lambda b: True)
    assert history["period"] == "7d" and len(history["points"]) == 169
    assert history["source"] == "coingecko"
    bad = await get(live, "/api/v1/prices/history?period=2d", key_of(live))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


async def test_exchanges_per_venue_and_aggregate(live: Backend, sim: MarketSimulator) -> None:
    full = await wait_for(
        live, "/api/v1/exchanges", lambda b: b["aggregate"]["completeness_pct"] == 100.0
    )
    assert {v["venue"] for v in full["venues"]} == {"okx", "binance", "deribit", "bybit"}
    assert full["aggregate"]["vwap_usd"] > 0 and full["aggregate"]["spread_pct"] >= 0
    sim.server("deribit").set_fault(Fault.DOWN)
    partial = await wait_for(
        live, "/api/v1/exchanges", lambda b: b["aggregate"]["completeness_pct"] == 75.0
    )
    deribit = next(v for v in partial["venues"] if v["venue"] == "deribit")
    assert deribit["status"] == "error" and deribit["stale"] is True and deribit["error"]


async def test_network_stats_blocks_and_hashrate(live: Backend, sim: MarketSimulator) -> None:
    stats = await wait_for(
        live, "/api/v1/network/stats", lambda b: b["hashprice_usd_per_th_day"] is not None
    )
    for field in ("hashrate_ehs", "difficulty", "tip_height", "source", "as_of"):
        assert stats[field] is not None, field
    assert stats["next_adjustment"]["remaining_blocks"] > 0
    assert stats["next_adjustment"]["estimated_date"] > time.time()
    inputs = stats["hashprice"]["inputs"]
    assert set(inputs) == {
        "price_usd",
        "network_hashrate_hs",
        "tip_height",
        "avg_fees_per_block_btc",
    }
    assert all(item["source"] and item["as_of"] for item in inputs.values())
    # a block height is an integer in the answer, as in the `network.update` event
    assert type(inputs["tip_height"]["value"]) is int
    assert inputs["tip_height"]["value"] == stats["tip_height"]
    blocks = await wait_for(live, "/api/v1/network/blocks", lambda b: True)
    assert blocks["blocks"][0]["height"] == sim.chain.tip_height
    hashrate = await wait_for(live, "/api/v1/network/hashrate?period=3d", lambda b: True)
    assert len(hashrate["points"]) == 3


async def test_health_reports_every_provider_from_real_calls(
    live: Backend, sim: MarketSimulator
) -> None:
    names = {"coingecko", "blockchain_info", "mempool", "okx", "binance", "deribit", "bybit"}
    names.add("bitcoin_rpc")

    def all_ok(report: dict[str, Any]) -> bool:
        items = {i["name"]: i for i in report["integrations"]}
        return all(items.get(n, {}).get("status") == "ok" for n in names)

    report = await wait_for(live, "/api/v1/health", all_ok)
    coingecko = next(i for i in report["integrations"] if i["name"] == "coingecko")
    assert coingecko["latency_ms"] is not None and coingecko["last_success"] is not None
    sim.server("okx").set_fault(Fault.HTTP_500)

    def okx_failing(report: dict[str, Any]) -> bool:
        okx = next(i for i in report["integrations"] if i["name"] == "okx")
        return okx["status"] != "ok" and "HTTP 500" in (okx["last_error"] or "")

    await wait_for(live, "/api/v1/health", okx_failing)


async def recv(ws: websockets.ClientConnection, wait_s: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def test_websocket_channels_prices_exchanges_network_blocks(
    live: Backend, sim: MarketSimulator
) -> None:
    url = live.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": key_of(live)}))
        ok = await recv(ws)
        assert {"prices", "exchanges", "network", "blocks"} <= set(ok["channels"])
        channels = ["prices", "exchanges", "network", "blocks"]
        await ws.send(json.dumps({"type": "subscribe", "channels": channels}))
        assert (await recv(ws))["type"] == "subscribed"
        await wait_for(live, "/api/v1/network/blocks", lambda b: True)
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 10
        while set(seen) != {"price.tick", "exchanges.update", "network.update", "block.new"}:
            assert time.monotonic() < deadline, f"only saw {sorted(seen)}"
            if "block.new" not in seen:
                sim.chain.mine_block()
            message = await recv(ws)
            if message["type"] == "event":
                seen[message["event"]] = message["data"]
    assert seen["price.tick"]["source"] and seen["network.update"]["hashrate_ehs"] > 0
    assert seen["block.new"]["height"] > 0


async def test_disabled_market_answers_503_and_health_stays_honest(settings: Settings) -> None:
    update = {"market_enabled": False, "health_check_interval_s": 3600.0}
    instance = Backend(settings.model_copy(update=update))
    await instance.start()
    try:
        key = key_of(instance)
        for path in ("/api/v1/prices/current", "/api/v1/exchanges", "/api/v1/network/stats"):
            response = await get(instance, path, key)
            assert response.status_code == 503, path
            assert "disabled" in response.json()["error"]["message"]
        report = (await get(instance, "/api/v1/health", key)).json()
        coingecko = next(i for i in report["integrations"] if i["name"] == "coingecko")
        assert coingecko["status"] == "disabled"
        spec = (await get(instance, "/api/v1/openapi.json")).json()
        for path in ("/api/v1/prices/current", "/api/v1/prices/history", "/api/v1/exchanges"):
            assert path in spec["paths"]
        assert "/api/v1/network/stats" in spec["paths"]
    finally:
        await instance.stop()


async def test_recorded_samples_serve_history_after_a_restart_with_providers_down(
    settings: Settings, sim: MarketSimulator
) -> None:
    """Our own record keeps the price chart and the analytics history when providers fail."""
    tuned = settings.model_copy(
        update={**sim.settings_overrides(), **FAST, "market_record_s": 0.0, "http_retries": 0}
    )
    first = Backend(tuned)
    await first.start()
    try:
        await wait_for(
            first, "/api/v1/network/stats", lambda b: b["hashprice_usd_per_th_day"] is not None
        )
        market = first.services_by_name["market"]
        chain = first.services_by_name["chain"]

        async def recorded(service: Any, metric: str, at_least: int) -> bool:
            return await service.recorder.count(metric) >= at_least

        deadline = time.monotonic() + 30
        while not (
            await recorded(market, "btc_price", 3)
            and await recorded(chain, "difficulty", 2)
            and await recorded(chain, "hashprice", 2)
        ):
            assert time.monotonic() < deadline, "samples were never recorded"
            await asyncio.sleep(0.1)
        key = key_of(first)
        recorded_prices = [v for _t, v, _s in await market.recorder.series("btc_price", 0, 2e9)]
        sections = await _notarized_sections(first, key)
        recorded_after = await market.recorder.count("btc_price")  # recording goes on meanwhile
        price = sections["market"]["data"]["btc_price_usd"]
        assert sections["market"]["available"]
        assert len(recorded_prices) <= price["samples"] <= recorded_after
        assert price["min"] <= price["mean"] <= price["max"] and price["sources"] == ["coingecko"]
        chain_data = sections["chain"]["data"]
        assert chain_data["difficulty"]["samples"] >= 2 and chain_data["hashprice_formula"]
        assert chain_data["hashprice_usd_per_ph_day"]["last"]["value"] > 0
    finally:
        await first.stop()

    for name in ("coingecko", "mempool"):  # no history provider answers any more
        sim.server(name).set_fault(Fault.DOWN)
    second = Backend(tuned)
    await second.start()
    try:
        history = await wait_for(
            second, "/api/v1/prices/history?period=1d", lambda b: True, key=key
        )
        assert history["source"].startswith("recorded") and history["stale"] is True
        assert len(history["points"]) >= 3 and history["error"]
        assert [p["price_usd"] for p in history["points"]][: len(recorded_prices)] == (
            recorded_prices
        )
        hashrate = await wait_for(
            second, "/api/v1/network/hashrate?period=3d", lambda b: True, key=key
        )
        assert hashrate["source"].startswith("recorded") and len(hashrate["points"]) >= 2
        for metric in ("difficulty", "hashprice"):
            body = await wait_for(
                second,
                f"/api/v1/analytics/historical?metric={metric}&period=1h",
                lambda b: len(b["points"]) >= 1,  # one-minute buckets: these samples share one
                key=key,
            )
            assert all(value > 0 for _t, value in _pairs(body["points"])), body
    finally:
        await second.stop()


async def _notarized_sections(backend: Backend, key: str) -> dict[str, Any]:
    """Notarize the last hour through the API and read back the report's sections."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=backend.url, headers=headers, timeout=10) as http:
        created = (await http.post("/api/v1/notarizations", json={"period_hours": 1})).json()
        deadline = time.monotonic() + 60
        while (await http.get(f"/api/v1/notarizations/{created['id']}")).json()["status"] not in (
            "completed",
            "failed",
        ):
            assert time.monotonic() < deadline, "the notarization never finished"
            await asyncio.sleep(0.2)
        document = await http.get(f"/api/v1/notarizations/{created['id']}/document")
    return json.loads(document.content)["sections"]


def _pairs(points: list[Any]) -> list[tuple[float, float]]:
    return [(p["t"], p["value"]) if isinstance(p, dict) else (p[0], p[1]) for p in points]
