"""Network value types: hashrates in H/s, amounts in BTC, times in epoch seconds unless named."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RETARGET_INTERVAL = 2016
TARGET_BLOCK_TIME_S = 600.0


@dataclass(frozen=True, slots=True)
class NetworkReading:
    hashrate_hs: float
    difficulty: float
    tip_height: int


@dataclass(frozen=True, slots=True)
class NextAdjustment:
    """The coming difficulty retarget. `estimated_change_pct` is a percent (+2.5 means harder)."""

    estimated_change_pct: float
    remaining_blocks: int
    estimated_date: float
    next_retarget_height: int
    progress_pct: float | None
    avg_block_time_s: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FeeSample:
    """Average transaction fees per block, in BTC, over `blocks` recent blocks."""

    avg_fees_per_block_btc: float
    blocks: int


@dataclass(frozen=True, slots=True)
class BlockSummary:
    height: int
    hash: str
    timestamp: float
    tx_count: int | None
    size_bytes: int | None
    total_fees_btc: float | None
    reward_btc: float | None
    median_fee_rate: float | None  # sat/vB
    pool: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HashratePoint:
    t: float
    hashrate_hs: float


@dataclass(frozen=True, slots=True)
class HashrateSeries:
    current_hashrate_hs: float
    current_difficulty: float
    points: tuple[HashratePoint, ...]
