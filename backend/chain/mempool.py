"""mempool.space REST API (base URL ends in `/api`).

Wire facts (mempool.space API docs): `/v1/mining/hashrate/:period` gives hashrates in H/s and
timestamps in seconds; `/v1/difficulty-adjustment` mixes units: `estimatedRetargetDate`,
`remainingTime` and `timeAvg` are milliseconds while `previousTime` is seconds;
`/blocks/tip/height` is text/plain; `/v1/blocks` lists the last 15 blocks with an `extras` object
whose `totalFees` and `reward` are satoshis. (`/v1/prices` is read by `backend.market.mempool`.)
"""

from __future__ import annotations

from typing import Any

from backend.chain.models import (
    BlockSummary,
    FeeSample,
    HashratePoint,
    HashrateSeries,
    NetworkReading,
    NextAdjustment,
)
from backend.core.clock import Clock
from backend.core.http import ProviderClient
from backend.providers.values import (
    PayloadError,
    num,
    obj,
    opt_num,
    rejected,
    seconds_epoch,
    seconds_from_ms,
)

NAME = "mempool"
SATS_PER_BTC = 1e8
# mempool.space's hashrate periods and the span each covers, in days
HASHRATE_PERIOD_DAYS = {"3d": 3, "1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 366}
HASHRATE_PERIODS = tuple(HASHRATE_PERIOD_DAYS)


def parse_hashrate(payload: Any) -> HashrateSeries:
    where = "mempool hashrate"
    data = obj(payload, where)
    rows = data.get("hashrates")
    if not isinstance(rows, list):
        raise PayloadError(f"{where}: 'hashrates' is not a list")
    points = []
    for index, row in enumerate(rows):
        at = f"{where}.hashrates[{index}]"
        t = seconds_epoch(num(row, "timestamp", at), at)
        points.append(HashratePoint(t, num(row, "avgHashrate", at)))
    points.sort(key=lambda p: p.t)
    return HashrateSeries(
        current_hashrate_hs=num(data, "currentHashrate", where),
        current_difficulty=num(data, "currentDifficulty", where),
        points=tuple(points),
    )


def parse_difficulty_adjustment(payload: Any) -> NextAdjustment:
    where = "mempool difficulty-adjustment"
    data = obj(payload, where)
    remaining = int(num(data, "remainingBlocks", where))
    time_avg_ms = opt_num(data, "timeAvg", where)
    return NextAdjustment(
        estimated_change_pct=num(data, "difficultyChange", where),
        remaining_blocks=remaining,
        estimated_date=seconds_from_ms(
            num(data, "estimatedRetargetDate", where), f"{where}.estimatedRetargetDate"
        ),
        next_retarget_height=int(num(data, "nextRetargetHeight", where)),
        progress_pct=opt_num(data, "progressPercent", where),
        avg_block_time_s=time_avg_ms / 1000 if time_avg_ms else None,
        method="mempool.space difficulty-adjustment",
    )


def parse_tip_height(text: str) -> int:
    try:
        height = int(text.strip())
    except ValueError:
        raise PayloadError(f"mempool tip height: not a number: {text[:40]!r}") from None
    if height <= 0:
        raise PayloadError(f"mempool tip height: {height} is not a height")
    return height


def parse_blocks(payload: Any) -> list[BlockSummary]:
    where = "mempool blocks"
    if not isinstance(payload, list):
        raise PayloadError(f"{where}: expected a list, got {type(payload).__name__}")
    blocks = []
    for index, item in enumerate(payload):
        at = f"{where}[{index}]"
        row = obj(item, at)
        extras = row.get("extras") or {}
        extras = obj(extras, f"{at}.extras")
        block_hash = row.get("id")
        if not isinstance(block_hash, str) or len(block_hash) != 64:
            raise PayloadError(f"{at}: 'id' is not a block hash")
        fees = opt_num(extras, "totalFees", f"{at}.extras")
        reward = opt_num(extras, "reward", f"{at}.extras")
        pool = extras.get("pool")
        tx_count = opt_num(row, "tx_count", at)
        size = opt_num(row, "size", at)
        blocks.append(
            BlockSummary(
                height=int(num(row, "height", at)),
                hash=block_hash,
                timestamp=seconds_epoch(num(row, "timestamp", at), f"{at}.timestamp"),
                tx_count=int(tx_count) if tx_count is not None else None,
                size_bytes=int(size) if size is not None else None,
                total_fees_btc=fees / SATS_PER_BTC if fees is not None else None,
                reward_btc=reward / SATS_PER_BTC if reward is not None else None,
                median_fee_rate=opt_num(extras, "medianFee", f"{at}.extras"),
                pool=str(pool["name"]) if isinstance(pool, dict) and pool.get("name") else None,
            )
        )
    blocks.sort(key=lambda b: b.height, reverse=True)
    return blocks


def fees_from_blocks(blocks: list[BlockSummary]) -> FeeSample:
    fees = [b.total_fees_btc for b in blocks if b.total_fees_btc is not None]
    if not fees:
        raise PayloadError("mempool blocks: no block carries extras.totalFees")
    return FeeSample(avg_fees_per_block_btc=sum(fees) / len(fees), blocks=len(fees))


class MempoolClient:
    def __init__(self, provider: ProviderClient, clock: Clock) -> None:
        self.provider = provider
        self.clock = clock

    async def hashrate(self, period: str = "3d") -> HashrateSeries:
        if period not in HASHRATE_PERIODS:
            raise ValueError(f"unknown hashrate period {period!r}")
        payload = await self.provider.get_json(f"/v1/mining/hashrate/{period}")
        try:
            return parse_hashrate(payload)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def tip_height(self) -> tuple[int, float]:
        response = await self.provider.request("GET", "/blocks/tip/height")
        try:
            return parse_tip_height(response.text), self.clock.time()
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def network(self) -> tuple[NetworkReading, float]:
        series = await self.hashrate("3d")
        height, as_of = await self.tip_height()
        reading = NetworkReading(
            hashrate_hs=series.current_hashrate_hs,
            difficulty=series.current_difficulty,
            tip_height=height,
        )
        return reading, as_of

    async def adjustment(self) -> tuple[NextAdjustment, float]:
        payload = await self.provider.get_json("/v1/difficulty-adjustment")
        try:
            return parse_difficulty_adjustment(payload), self.clock.time()
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def blocks(self) -> list[BlockSummary]:
        payload = await self.provider.get_json("/v1/blocks")
        try:
            return parse_blocks(payload)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def fees(self) -> tuple[FeeSample, float]:
        blocks = await self.blocks()
        try:
            sample = fees_from_blocks(blocks)
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
        return sample, self.clock.time()
