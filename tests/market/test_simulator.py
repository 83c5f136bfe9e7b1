"""The simulators: the same wire shapes as the recorded real answers, consistent providers, and
faults that behave like the real failures."""

from __future__ import annotations

import httpx
import pytest

from backend.chain.mempool import parse_blocks
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator
from tests.market.support import fixture_json


async def fetch(sim: MarketSimulator, provider: str, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.server(provider).url, trust_env=False) as http:
        return await http.get(path, params=params, timeout=5)


async def test_answers_have_the_recorded_shapes(sim: MarketSimulator) -> None:
    binance = (await fetch(sim, "binance", "/api/v3/ticker/24hr", symbol="BTCUSDT")).json()
    assert set(binance) == set(fixture_json("binance_ticker_24hr.json"))
    price = await fetch(
        sim,
        "coingecko",
        "/simple/price",
        ids="bitcoin",
        vs_currencies="usd",
        include_market_cap="true",
        include_24hr_vol="true",
        include_24hr_change="true",
        include_last_updated_at="true",
    )
    assert set(price.json()["bitcoin"]) == set(
        fixture_json("coingecko_simple_price.json")["bitcoin"]
    )
    chart = await fetch(
        sim, "coingecko", "/coins/bitcoin/market_chart", vs_currency="usd", days="1"
    )
    assert set(chart.json()) == set(fixture_json("coingecko_market_chart.json"))
    adjustment = (await fetch(sim, "mempool", "/v1/difficulty-adjustment")).json()
    assert set(adjustment) == set(fixture_json("mempool_difficulty_adjustment.json"))
    hashrate = (await fetch(sim, "mempool", "/v1/mining/hashrate/3d")).json()
    assert set(hashrate) == set(fixture_json("mempool_mining_hashrate_3d.json"))
    index = (await fetch(sim, "deribit", "/public/get_index_price", index_name="btc_usd")).json()
    assert set(index["result"]) == set(fixture_json("deribit_get_index_price.json")["result"])
    tip = await fetch(sim, "mempool", "/blocks/tip/height")
    assert tip.headers["content-type"].startswith("text/plain") and tip.text.isdigit()
    bybit = await fetch(sim, "bybit", "/v5/market/tickers", category="spot", symbol="BTCUSDT")
    recorded = fixture_json("bybit_v5_market_tickers_inverse_docs.json")
    assert set(bybit.json()) == set(recorded)
    assert parse_blocks((await fetch(sim, "mempool", "/v1/blocks")).json())


async def test_providers_agree_on_the_network(sim: MarketSimulator) -> None:
    stats = (await fetch(sim, "blockchain_info", "/stats", format="json")).json()
    hashrate = (await fetch(sim, "mempool", "/v1/mining/hashrate/3d")).json()
    tip = int((await fetch(sim, "mempool", "/blocks/tip/height")).text)
    assert stats["hash_rate"] * 1e9 == pytest.approx(hashrate["currentHashrate"])  # GH/s vs H/s
    assert stats["difficulty"] == hashrate["currentDifficulty"]
    assert stats["n_blocks_total"] == tip
    implied = stats["difficulty"] * 2**32 / 600
    assert 0.8 < hashrate["currentHashrate"] / implied < 1.25


async def test_control_endpoint_switches_faults(sim: MarketSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.server("okx").url, trust_env=False) as http:
        set_fault = await http.post("/__sim__/fault", json={"fault": "http_500", "count": 1})
        assert set_fault.json() == {"provider": "okx", "fault": "http_500"}
        first = await http.get("/api/v5/market/ticker", params={"instId": "BTC-USDT"})
        second = await http.get("/api/v5/market/ticker", params={"instId": "BTC-USDT"})
        assert (first.status_code, second.status_code) == (500, 200)
        await http.post("/__sim__/fault", json={"fault": "http_429", "retry_after_s": 7})
        limited = await http.get("/api/v5/market/ticker", params={"instId": "BTC-USDT"})
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        assert (await http.delete("/__sim__/fault")).json()["fault"] is None
        bad = await http.post("/__sim__/fault", json={"fault": "meteor"})
        assert bad.status_code == 400 and "http_500" in bad.json()["error"]


async def test_down_refuses_connections_and_comes_back_on_the_same_port(
    sim: MarketSimulator,
) -> None:
    server = sim.server("binance")
    port = server.port
    server.set_fault(Fault.DOWN)
    await server.settle()
    with pytest.raises(httpx.ConnectError):
        await fetch(sim, "binance", "/api/v3/ticker/24hr", symbol="BTCUSDT")
    server.clear_fault()
    await server.settle()
    assert server.port == port
    assert (await fetch(sim, "binance", "/api/v3/ticker/24hr", symbol="BTCUSDT")).status_code == 200


async def test_malformed_and_unknown(sim: MarketSimulator) -> None:
    sim.server("mempool").set_fault(Fault.MALFORMED, count=1)
    broken = await fetch(sim, "mempool", "/v1/prices")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert (await fetch(sim, "mempool", "/v1/nope")).status_code == 404
    wrong = await fetch(sim, "binance", "/api/v3/ticker/24hr", symbol="NOPE")
    assert wrong.status_code == 400 and wrong.json()["code"] == -1121
