"""Simulated Bitcoin network providers: blockchain.info, mempool.space and a node's JSON-RPC.

One `ChainState` drives all three, so they agree with each other as the real ones roughly do:
blocks arrive at random (exponential gaps, `block_interval_s` mean, sped up for the demo), the
hashrate wanders around its start value and the difficulty implies it (D = H × 600 / 2^32). The
mean block time the providers report stays near 600 s (what a real period looks like), whatever
the demo's block cadence. Each provider answers in its real wire format and units (see the
clients in `backend/chain/`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.sim.http_server import Route, SimRequest, SimResponse

SATS = 100_000_000
RETARGET = 2016
POOLS = ("Foundry USA", "AntPool", "ViaBTC", "F2Pool", "MARA Pool", "SpiderPool", "Luxor")
ABSURD_FACTOR = 1e9  # what a GH/s ↔ H/s slip does to a hashrate


@dataclass(frozen=True, slots=True)
class SimBlock:
    height: int
    hash: str
    timestamp: int
    tx_count: int
    size: int
    weight: int
    fees_sats: int
    median_fee: float
    pool: str


def subsidy_sats(height: int) -> int:
    halvings = height // 210_000
    return 0 if halvings >= 64 else (50 * SATS) >> halvings


class ChainState:
    def __init__(
        self,
        price_fn: Callable[[], float],
        *,
        start_height: int = 905_000,
        hashrate_hs: float = 8.2e20,
        block_interval_s: float = 120.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.price_fn = price_fn
        self.clock = clock
        self.rng = random.Random(seed)
        self.block_interval_s = block_interval_s
        self.base_hashrate = hashrate_hs
        self.period_block_time_s = self.rng.uniform(575, 615)
        now = clock()
        self.blocks: deque[SimBlock] = deque(maxlen=64)
        for offset in range(15, 0, -1):
            when = int(now - offset * 600 + self.rng.uniform(0, 60))
            self._append(start_height - offset + 1, when)
        self._next_block_at = now + self.rng.expovariate(1 / block_interval_s)
        epoch_start = self.tip_height - self.tip_height % RETARGET
        self.difficulty = self.hashrate(epoch_start) * 600 / 2**32

    # ------------------------------------------------------------------ state

    @property
    def tip_height(self) -> int:
        return self.blocks[-1].height

    def hashrate(self, height: int | None = None) -> float:
        """A slow, deterministic wander of ±4 % around the base value, by height."""
        h = self.tip_height if height is None else height
        return self.base_hashrate * (1 + 0.04 * math.sin(h / 97.0) + 0.01 * math.sin(h / 7.3))

    def tick(self) -> None:
        """Mine every block that is due by now (lazy: nothing runs between requests)."""
        now = self.clock()
        while now >= self._next_block_at:
            self._append(self.tip_height + 1, int(self._next_block_at))
            self._next_block_at += self.rng.expovariate(1 / self.block_interval_s)

    def mine_block(self) -> SimBlock:
        """A block right now (for tests and demos)."""
        self._append(self.tip_height + 1, int(self.clock()))
        return self.blocks[-1]

    def _append(self, height: int, timestamp: int) -> None:
        if height % RETARGET == 0 and self.blocks:
            self.difficulty = self.hashrate(height) * 600 / 2**32
            self.period_block_time_s = self.rng.uniform(575, 615)
        digest = hashlib.sha256(f"sim-block-{height}".encode()).hexdigest()
        block_hash = "00000000000000000" + digest[17:]
        tx_count = self.rng.randint(1800, 5200)
        size = tx_count * self.rng.randint(280, 420)
        self.blocks.append(
            SimBlock(
                height=height,
                hash=block_hash,
                timestamp=timestamp,
                tx_count=tx_count,
                size=size,
                weight=min(3_999_000, size * 3),
                fees_sats=int(self.rng.uniform(0.015, 0.12) * SATS),
                median_fee=round(self.rng.uniform(1.5, 12.0), 1),
                pool=self.rng.choice(POOLS),
            )
        )

    def mined_in_period(self) -> int:
        return self.tip_height % RETARGET

    def retarget_estimate(self) -> tuple[float, float]:
        """(expected change %, mean block time s) of the current period."""
        avg = self.period_block_time_s
        return (600 / avg - 1) * 100, avg


# ---------------------------------------------------------------------- blockchain.info


def blockchain_info_routes(state: ChainState) -> dict[tuple[str, str], Route]:
    def stats(request: SimRequest) -> SimResponse:
        state.tick()
        now = state.clock()
        recent = [b for b in state.blocks if b.timestamp >= now - 86_400] or [state.blocks[-1]]
        fees = sum(b.fees_sats for b in recent)
        _change, avg = state.retarget_estimate()
        hashrate_ghs = state.hashrate() / 1e9
        if request.absurd:
            hashrate_ghs *= ABSURD_FACTOR  # H/s reported as if GH/s
        price = state.price_fn()
        tip = state.tip_height
        return SimResponse.json(
            {
                "timestamp": int(now * 1000),
                "market_price_usd": round(price, 2),
                "hash_rate": hashrate_ghs,
                "total_fees_btc": fees,
                "n_btc_mined": sum(subsidy_sats(b.height) for b in recent),
                "n_tx": sum(b.tx_count for b in recent),
                "n_blocks_mined": len(recent),
                "minutes_between_blocks": round(avg / 60, 4),
                "totalbc": 1_985_000_000_000_000,
                "n_blocks_total": tip,
                "estimated_transaction_volume_usd": 9.1e9,
                "blocks_size": sum(b.size for b in recent),
                "miners_revenue_usd": (fees + sum(subsidy_sats(b.height) for b in recent))
                / SATS
                * price,
                "nextretarget": tip - tip % RETARGET + RETARGET,
                "difficulty": state.difficulty,
                "estimated_btc_sent": 61_000_000_000_000,
                "miners_revenue_btc": int(len(recent) * 3.2),
                "total_btc_sent": 410_000_000_000_000,
                "trade_volume_btc": 14_300.5,
                "trade_volume_usd": round(14_300.5 * price, 2),
            }
        )

    def block_count(_request: SimRequest) -> SimResponse:
        state.tick()
        return SimResponse.text(str(state.tip_height))

    return {("GET", "/stats"): stats, ("GET", "/q/getblockcount"): block_count}


# ---------------------------------------------------------------------- mempool.space

HASHRATE_PERIOD_DAYS = {"3d": 3, "1w": 7, "1m": 30, "3m": 90, "6m": 180, "1y": 365}


def mempool_routes(state: ChainState) -> dict[tuple[str, str], Route]:
    def hashrate_route(days: int) -> Route:
        def answer(request: SimRequest) -> SimResponse:
            state.tick()
            now = int(state.clock())
            day0 = now - now % 86_400
            tip = state.tip_height
            points = [
                {
                    "timestamp": day0 - d * 86_400,
                    "avgHashrate": state.hashrate(tip - d * 144),
                }
                for d in range(days, 0, -1)
            ]
            current = state.hashrate()
            if request.absurd:
                current /= ABSURD_FACTOR  # GH/s reported as if H/s
            return SimResponse.json(
                {
                    "hashrates": points,
                    "difficulty": [
                        {
                            "timestamp": day0 - 86_400,
                            "difficulty": state.difficulty,
                            "height": tip - tip % RETARGET,
                        }
                    ],
                    "currentHashrate": current,
                    "currentDifficulty": state.difficulty,
                }
            )

        return answer

    def difficulty_adjustment(_request: SimRequest) -> SimResponse:
        state.tick()
        now = state.clock()
        change, avg = state.retarget_estimate()
        mined = state.mined_in_period()
        remaining = RETARGET - mined
        return SimResponse.json(
            {
                "progressPercent": mined / RETARGET * 100,
                "difficultyChange": change,
                "estimatedRetargetDate": int((now + remaining * avg) * 1000),
                "remainingBlocks": remaining,
                "remainingTime": int(remaining * avg * 1000),
                "previousRetarget": 1.83,
                "previousTime": int(now - mined * avg),
                "nextRetargetHeight": state.tip_height + remaining,
                "timeAvg": int(avg * 1000),
                "adjustedTimeAvg": int(avg * 1000),
                "timeOffset": 0,
                "expectedBlocks": mined * avg / 600,
            }
        )

    def tip_height(_request: SimRequest) -> SimResponse:
        state.tick()
        return SimResponse.text(str(state.tip_height))

    def blocks(_request: SimRequest) -> SimResponse:
        state.tick()
        latest = list(state.blocks)[-15:][::-1]
        return SimResponse.json([_mempool_block(state, b) for b in latest])

    def prices(request: SimRequest) -> SimResponse:
        price = state.price_fn()
        usd = -price if request.absurd else price
        return SimResponse.json(
            {
                "time": int(state.clock()),
                "USD": int(usd),
                "EUR": int(price * 0.92),
                "GBP": int(price * 0.79),
                "CAD": int(price * 1.37),
                "CHF": int(price * 0.88),
                "AUD": int(price * 1.52),
                "JPY": int(price * 151),
            }
        )

    routes: dict[tuple[str, str], Route] = {
        ("GET", f"/v1/mining/hashrate/{period}"): hashrate_route(days)
        for period, days in HASHRATE_PERIOD_DAYS.items()
    }
    routes.update(
        {
            ("GET", "/v1/difficulty-adjustment"): difficulty_adjustment,
            ("GET", "/blocks/tip/height"): tip_height,
            ("GET", "/v1/blocks"): blocks,
            ("GET", "/v1/prices"): prices,
        }
    )
    return routes


def _mempool_block(state: ChainState, block: SimBlock) -> dict[str, Any]:
    previous = hashlib.sha256(f"sim-block-{block.height - 1}".encode()).hexdigest()
    subsidy = subsidy_sats(block.height)
    return {
        "id": block.hash,
        "height": block.height,
        "version": 536870912,
        "timestamp": block.timestamp,
        "bits": 386_000_000,
        "nonce": block.height * 7919 % 2**32,
        "difficulty": state.difficulty,
        "merkle_root": hashlib.sha256(block.hash.encode()).hexdigest(),
        "tx_count": block.tx_count,
        "size": block.size,
        "weight": block.weight,
        "previousblockhash": "00000000000000000" + previous[17:],
        "mediantime": block.timestamp - 3000,
        "extras": {
            "totalFees": block.fees_sats,
            "medianFee": block.median_fee,
            "feeRange": [1, 2, block.median_fee, block.median_fee * 2, 60],
            "reward": subsidy + block.fees_sats,
            "pool": {"id": POOLS.index(block.pool) + 1, "name": block.pool, "slug": "sim"},
            "avgFee": block.fees_sats // max(1, block.tx_count),
            "avgFeeRate": int(block.median_fee),
        },
    }


# ---------------------------------------------------------------------- node JSON-RPC


def bitcoin_rpc_routes(
    state: ChainState, auth: tuple[str, str] | None = None
) -> dict[tuple[str, str], Route]:
    expected = None
    if auth is not None:
        expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()

    def rpc(request: SimRequest) -> SimResponse:
        if expected is not None and request.headers.get("authorization") != expected:
            return SimResponse(401, b"", "text/plain")
        try:
            call = request.json()
            method, params, call_id = call["method"], call.get("params") or [], call.get("id")
        except (ValueError, KeyError, TypeError):
            return SimResponse.json(
                {"result": None, "error": {"code": -32700, "message": "Parse error"}, "id": None},
                500,
            )
        state.tick()
        handler = _RPC.get(method)
        if handler is None:
            error = {"code": -32601, "message": "Method not found"}
            return SimResponse.json({"result": None, "error": error, "id": call_id}, 404)
        try:
            result = handler(state, params, request.absurd)
        except (IndexError, ValueError, TypeError) as exc:
            error = {"code": -8, "message": str(exc)[:80]}
            return SimResponse.json({"result": None, "error": error, "id": call_id}, 500)
        return SimResponse.json({"result": result, "error": None, "id": call_id})

    return {("POST", "/"): rpc}


def _block_at(state: ChainState, height: int) -> SimBlock | None:
    return next((b for b in state.blocks if b.height == height), None)


def _rpc_blockchain_info(state: ChainState, _params: list[Any], _absurd: bool) -> dict[str, Any]:
    tip = state.blocks[-1]
    return {
        "chain": "main",
        "blocks": tip.height,
        "headers": tip.height,
        "bestblockhash": tip.hash,
        "difficulty": state.difficulty,
        "time": tip.timestamp,
        "mediantime": tip.timestamp - 3000,
        "verificationprogress": 0.9999995,
        "initialblockdownload": False,
        "chainwork": "0" * 40 + format(tip.height * 977, "024x"),
        "size_on_disk": 720_000_000_000,
        "pruned": False,
        "warnings": "",
    }


def _rpc_mining_info(state: ChainState, _params: list[Any], absurd: bool) -> dict[str, Any]:
    hashrate = state.hashrate()
    return {
        "blocks": state.tip_height,
        "difficulty": state.difficulty,
        "networkhashps": hashrate * ABSURD_FACTOR if absurd else hashrate,
        "pooledtx": 41_230,
        "chain": "main",
        "warnings": "",
    }


def _rpc_block_hash(state: ChainState, params: list[Any], _absurd: bool) -> str:
    height = int(params[0])
    block = _block_at(state, height)
    if block is not None:
        return block.hash
    if not 0 <= height <= state.tip_height:
        raise ValueError("Block height out of range")
    return "00000000000000000" + hashlib.sha256(f"sim-block-{height}".encode()).hexdigest()[17:]


def _rpc_block_header(state: ChainState, params: list[Any], _absurd: bool) -> dict[str, Any]:
    block_hash = str(params[0])
    block = next((b for b in state.blocks if b.hash == block_hash), None)
    if block is not None:
        height, timestamp = block.height, block.timestamp
    else:  # older than what we keep: place it on the period's mean block time
        height = state.tip_height - state.mined_in_period()
        elapsed = state.mined_in_period() * state.period_block_time_s
        timestamp = int(state.blocks[-1].timestamp - elapsed)
    return {"hash": block_hash, "height": height, "time": timestamp, "difficulty": state.difficulty}


def _rpc_block_count(state: ChainState, _params: list[Any], _absurd: bool) -> int:
    return state.tip_height


_RPC: dict[str, Callable[[ChainState, list[Any], bool], Any]] = {
    "getblockchaininfo": _rpc_blockchain_info,
    "getmininginfo": _rpc_mining_info,
    "getblockhash": _rpc_block_hash,
    "getblockheader": _rpc_block_header,
    "getblockcount": _rpc_block_count,
}
