"""Simulated market and chain providers on loopback: CoinGecko, OKX, Binance, Deribit, Bybit (this
module) plus blockchain.info, mempool.space and a Bitcoin node (`backend.sim.chain`).

`MarketSimulator` starts one `LoopbackHttpServer` per provider, each on its own free port, all fed
by one random-walk BTC price (`MarketState`) and one `ChainState`, and points the product's
clients at them through `settings_overrides()`. Faults are switched per provider:

    sim = MarketSimulator(seed=1)
    sim.server("coingecko").set_fault(Fault.HTTP_429, retry_after_s=30)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from backend.sim.chain import (
    ChainState,
    bitcoin_rpc_routes,
    blockchain_info_routes,
    mempool_routes,
)
from backend.sim.http_server import LoopbackHttpServer, Route, SimRequest, SimResponse

BTC_SUPPLY = 19_880_000
VENUE_BIAS = {"okx": 0.0002, "binance": -0.0001, "deribit": 0.0004, "bybit": 0.0}
VENUE_VOLUME_BTC = {"okx": 9_500.0, "binance": 21_000.0, "deribit": 6_200.0, "bybit": 7_800.0}
ENDPOINTS = {
    "coingecko": "/simple/price, /coins/bitcoin/market_chart",
    "blockchain_info": "/stats, /q/getblockcount",
    "mempool": "/v1/mining/hashrate/*, /v1/difficulty-adjustment, /blocks/tip/height, /v1/blocks",
    "okx": "/api/v5/market/ticker",
    "binance": "/api/v3/ticker/24hr",
    "deribit": "/public/get_index_price, /public/get_book_summary_by_currency",
    "bybit": "/v5/market/tickers",
    "bitcoin_rpc": "JSON-RPC POST /",
}
PROVIDERS = (
    "coingecko",
    "blockchain_info",
    "mempool",
    "okx",
    "binance",
    "deribit",
    "bybit",
    "bitcoin_rpc",
)


class MarketState:
    """A geometric random walk of the BTC price, advanced lazily on each request."""

    def __init__(
        self,
        *,
        start_price: float = 97_250.0,
        volatility_per_sqrt_s: float = 2e-4,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.sigma = volatility_per_sqrt_s
        self._price = start_price
        self._t = clock()
        self.open_24h = start_price * (1 + self.rng.uniform(-0.035, 0.035))
        self.seed = seed if seed is not None else self.rng.randrange(2**31)

    def price(self) -> float:
        now = self.clock()
        dt = now - self._t
        if dt > 0:
            self._price *= math.exp(self.sigma * math.sqrt(dt) * self.rng.gauss(0, 1))
            self._t = now
        return self._price

    def venue_price(self, venue: str) -> float:
        return self.price() * (1 + VENUE_BIAS.get(venue, 0.0) + self.rng.uniform(-5e-5, 5e-5))

    def change_24h_pct(self, price: float) -> float:
        return (price - self.open_24h) / self.open_24h * 100

    def history(self, days: int) -> list[tuple[int, float]]:
        """[(epoch ms, usd)] ending at the current price; 5-minute steps for 1 day, else hourly
        (CoinGecko's automatic granularity)."""
        step = 300 if days <= 1 else 3600
        count = days * 86_400 // step
        rng = random.Random(self.seed * 31 + days)
        now = self.clock()
        price = self.price()
        points = [(int(now * 1000), price)]
        sigma = 0.03 / math.sqrt(86_400 / step)  # ~3 % a day
        for i in range(1, count + 1):
            price /= math.exp(sigma * rng.gauss(0, 1))
            points.append((int((now - i * step) * 1000), price))
        return points[::-1]


# ---------------------------------------------------------------------- CoinGecko


def coingecko_routes(market: MarketState) -> dict[tuple[str, str], Route]:
    def simple_price(request: SimRequest) -> SimResponse:
        if "bitcoin" not in request.query.get("ids", "").split(","):
            return SimResponse.json({})
        price = market.price()
        coin: dict[str, Any] = {"usd": -price if request.absurd else price}
        if request.query.get("include_market_cap") == "true":
            coin["usd_market_cap"] = price * BTC_SUPPLY
        if request.query.get("include_24hr_vol") == "true":
            coin["usd_24h_vol"] = 31_260_929_299.52 * (price / 67_000)
        if request.query.get("include_24hr_change") == "true":
            coin["usd_24h_change"] = market.change_24h_pct(price)
        if request.query.get("include_last_updated_at") == "true":
            coin["last_updated_at"] = int(market.clock())
        return SimResponse.json({"bitcoin": coin})

    def market_chart(request: SimRequest) -> SimResponse:
        try:
            days = int(request.query.get("days", ""))
        except ValueError:
            return SimResponse.json({"error": "invalid 'days' parameter"}, 400)
        if request.query.get("vs_currency") != "usd" or not 1 <= days <= 365:
            return SimResponse.json({"error": "invalid vs_currency or days"}, 400)
        prices = market.history(days)
        return SimResponse.json(
            {
                "prices": [[t, p] for t, p in prices],
                "market_caps": [[t, p * BTC_SUPPLY] for t, p in prices],
                "total_volumes": [[t, 2.9e10] for t, _p in prices],
            }
        )

    return {
        ("GET", "/simple/price"): simple_price,
        ("GET", "/coins/bitcoin/market_chart"): market_chart,
    }


# ---------------------------------------------------------------------- exchanges


def _spread(price: float) -> tuple[float, float]:
    return price - 0.1, price + 0.1


def okx_routes(market: MarketState) -> dict[tuple[str, str], Route]:
    def ticker(request: SimRequest) -> SimResponse:
        inst = request.query.get("instId", "")
        if inst != "BTC-USDT":
            return SimResponse.json(
                {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
            )
        price = market.venue_price("okx")
        bid, ask = _spread(price)
        volume = VENUE_VOLUME_BTC["okx"]
        shown = -price if request.absurd else price
        row = {
            "instType": "SPOT",
            "instId": inst,
            "last": f"{shown:.1f}",
            "lastSz": "0.00512",
            "askPx": f"{ask:.1f}",
            "askSz": "1.2",
            "bidPx": f"{bid:.1f}",
            "bidSz": "0.8",
            "open24h": f"{market.open_24h:.1f}",
            "high24h": f"{max(price, market.open_24h) * 1.01:.1f}",
            "low24h": f"{min(price, market.open_24h) * 0.99:.1f}",
            "volCcy24h": f"{volume * price:.2f}",
            "vol24h": f"{volume:.4f}",
            "ts": str(int(market.clock() * 1000)),
            "sodUtc0": f"{market.open_24h:.1f}",
            "sodUtc8": f"{market.open_24h:.1f}",
        }
        return SimResponse.json({"code": "0", "msg": "", "data": [row]})

    return {("GET", "/api/v5/market/ticker"): ticker}


def binance_routes(market: MarketState) -> dict[tuple[str, str], Route]:
    def ticker(request: SimRequest) -> SimResponse:
        symbol = request.query.get("symbol", "")
        if symbol != "BTCUSDT":
            return SimResponse.json({"code": -1121, "msg": "Invalid symbol."}, 400)
        price = market.venue_price("binance")
        bid, ask = _spread(price)
        volume = VENUE_VOLUME_BTC["binance"]
        now_ms = int(market.clock() * 1000)
        shown = -price if request.absurd else price
        return SimResponse.json(
            {
                "symbol": symbol,
                "priceChange": f"{price - market.open_24h:.8f}",
                "priceChangePercent": f"{market.change_24h_pct(price):.3f}",
                "weightedAvgPrice": f"{(price + market.open_24h) / 2:.8f}",
                "prevClosePrice": f"{market.open_24h:.8f}",
                "lastPrice": f"{shown:.8f}",
                "lastQty": "0.00120000",
                "bidPrice": f"{bid:.8f}",
                "bidQty": "2.10000000",
                "askPrice": f"{ask:.8f}",
                "askQty": "1.70000000",
                "openPrice": f"{market.open_24h:.8f}",
                "highPrice": f"{max(price, market.open_24h) * 1.01:.8f}",
                "lowPrice": f"{min(price, market.open_24h) * 0.99:.8f}",
                "volume": f"{volume:.8f}",
                "quoteVolume": f"{volume * price:.8f}",
                "openTime": now_ms - 86_400_000,
                "closeTime": now_ms,
                "firstId": 4_100_000_000,
                "lastId": 4_101_200_000,
                "count": 1_200_000,
            }
        )

    return {("GET", "/api/v3/ticker/24hr"): ticker}


def bybit_routes(market: MarketState) -> dict[tuple[str, str], Route]:
    def tickers(request: SimRequest) -> SimResponse:
        category = request.query.get("category", "")
        symbol = request.query.get("symbol", "")
        now_ms = int(market.clock() * 1000)
        if category != "spot":
            return SimResponse.json(
                {
                    "retCode": 10001,
                    "retMsg": "Illegal category",
                    "result": {},
                    "retExtInfo": {},
                    "time": now_ms,
                }
            )
        rows = []
        if symbol in ("", "BTCUSDT"):
            price = market.venue_price("bybit")
            bid, ask = _spread(price)
            volume = VENUE_VOLUME_BTC["bybit"]
            shown = -price if request.absurd else price
            rows.append(
                {
                    "symbol": "BTCUSDT",
                    "bid1Price": f"{bid:.2f}",
                    "bid1Size": "0.9",
                    "ask1Price": f"{ask:.2f}",
                    "ask1Size": "1.4",
                    "lastPrice": f"{shown:.2f}",
                    "prevPrice24h": f"{market.open_24h:.2f}",
                    "price24hPcnt": f"{market.change_24h_pct(price) / 100:.4f}",
                    "highPrice24h": f"{max(price, market.open_24h) * 1.01:.2f}",
                    "lowPrice24h": f"{min(price, market.open_24h) * 0.99:.2f}",
                    "turnover24h": f"{volume * price:.8f}",
                    "volume24h": f"{volume:.6f}",
                    "usdIndexPrice": f"{market.price():.4f}",
                }
            )
        return SimResponse.json(
            {
                "retCode": 0,
                "retMsg": "OK",
                "result": {"category": "spot", "list": rows},
                "retExtInfo": {},
                "time": now_ms,
            }
        )

    return {("GET", "/v5/market/tickers"): tickers}


def deribit_routes(market: MarketState) -> dict[tuple[str, str], Route]:
    def envelope(result: Any) -> SimResponse:
        now_us = int(market.clock() * 1e6)
        return SimResponse.json(
            {
                "jsonrpc": "2.0",
                "result": result,
                "usIn": now_us,
                "usOut": now_us + 180,
                "usDiff": 180,
                "testnet": False,
            }
        )

    def error(code: int, message: str) -> SimResponse:
        body = {"jsonrpc": "2.0", "error": {"message": message, "code": code}, "testnet": False}
        return SimResponse.json(body, 400)

    def index_price(request: SimRequest) -> SimResponse:
        if request.query.get("index_name") != "btc_usd":
            return error(10001, "invalid index_name")
        price = round(market.price(), 2)
        return envelope({"index_price": price, "estimated_delivery_price": price})

    def book_summary(request: SimRequest) -> SimResponse:
        if request.query.get("currency") != "BTC":
            return error(10001, "invalid currency")
        price = market.venue_price("deribit")
        volume = VENUE_VOLUME_BTC["deribit"]
        now_ms = int(market.clock() * 1000)
        shown = -price if request.absurd else price
        perpetual = {
            "instrument_name": "BTC-PERPETUAL",
            "base_currency": "BTC",
            "quote_currency": "USD",
            "volume": volume,
            "volume_usd": round(volume * price, 2),
            "volume_notional": round(volume * price, 2),
            "open_interest": 1.02e9,
            "price_change": round(market.change_24h_pct(price), 4),
            "mark_price": round(price, 2),
            "mid_price": round(price, 2),
            "bid_price": round(price - 0.5, 1),
            "ask_price": round(price + 0.5, 1),
            "last": round(shown, 1),
            "high": round(max(price, market.open_24h) * 1.01, 1),
            "low": round(min(price, market.open_24h) * 0.99, 1),
            "estimated_delivery_price": round(market.price(), 2),
            "current_funding": 0.00001,
            "funding_8h": 0.0001,
            "interest_rate": 0.0,
            "creation_timestamp": now_ms,
        }
        dated = {
            **perpetual,
            "instrument_name": "BTC-27JUN25",
            "volume": volume / 9,
            "volume_usd": round(volume / 9 * price * 1.01, 2),
            "last": round(price * 1.01, 1),
            "mark_price": round(price * 1.01, 2),
        }
        del dated["current_funding"], dated["funding_8h"]
        return envelope([dated, perpetual])

    return {
        ("GET", "/public/get_index_price"): index_price,
        ("GET", "/public/get_book_summary_by_currency"): book_summary,
    }


# ---------------------------------------------------------------------- the simulator


class MarketSimulator:
    """Every market and chain provider of the product, on loopback (the `Simulator` protocol)."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        start_price: float = 97_250.0,
        block_interval_s: float = 120.0,
        rpc_auth: tuple[str, str] | None = None,
        demo_intervals: bool = True,
    ) -> None:
        self.market = MarketState(start_price=start_price, seed=seed)
        self.chain = ChainState(self.market.price, block_interval_s=block_interval_s, seed=seed)
        self.rpc_auth = rpc_auth
        self.demo_intervals = demo_intervals
        routes = {
            "coingecko": coingecko_routes(self.market),
            "blockchain_info": blockchain_info_routes(self.chain),
            "mempool": mempool_routes(self.chain),
            "okx": okx_routes(self.market),
            "binance": binance_routes(self.market),
            "deribit": deribit_routes(self.market),
            "bybit": bybit_routes(self.market),
            "bitcoin_rpc": bitcoin_rpc_routes(self.chain, rpc_auth),
        }
        self.servers = {name: LoopbackHttpServer(name, routes[name]) for name in PROVIDERS}

    def server(self, name: str) -> LoopbackHttpServer:
        return self.servers[name]

    async def start(self) -> None:
        try:
            for server in self.servers.values():
                await server.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()

    def clear_faults(self) -> None:
        for server in self.servers.values():
            if server.fault is not None:
                server.clear_fault()

    def settings_overrides(self) -> dict[str, Any]:
        s = self.servers
        rpc = s["bitcoin_rpc"].url
        if self.rpc_auth:
            user, password = self.rpc_auth
            rpc = rpc.replace("http://", f"http://{user}:{password}@")
        overrides: dict[str, Any] = {
            "market_enabled": True,  # the simulators answer: polling them reaches only loopback
            "coingecko_url": s["coingecko"].url,
            "blockchain_info_url": s["blockchain_info"].url,
            "mempool_url": s["mempool"].url,
            "okx_url": s["okx"].url,
            "binance_url": s["binance"].url,
            "deribit_url": s["deribit"].url,
            "bybit_url": s["bybit"].url,
            "bitcoin_rpc_url": SecretStr(rpc),
        }
        if self.demo_intervals:  # loopback has no rate limit: keep the demo lively
            overrides.update(
                price_poll_s=10.0, exchanges_poll_s=5.0, network_poll_s=20.0, blocks_poll_s=5.0
            )
        return overrides

    def describe(self) -> list[str]:
        lines = [
            f"{name:<16} {server.url}  ({ENDPOINTS[name]})" for name, server in self.servers.items()
        ]
        lines.append('  faults: POST <url>/__sim__/fault {"fault": "down|slow|http_429|..."}')
        return lines
