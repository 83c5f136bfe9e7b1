"""Response shapes of the network routes. Units are in the field names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from hashinsight_contract.market import AttemptOut, Freshness


class TipOut(Freshness):
    height: int


class AdjustmentOut(Freshness):
    estimated_change_pct: float = Field(description="percent; positive means harder")
    remaining_blocks: int
    estimated_date: float = Field(description="epoch seconds")
    next_retarget_height: int
    progress_pct: float | None
    avg_block_time_s: float | None
    method: str = Field(description="How the estimate was made")


class FeesOut(Freshness):
    avg_fees_per_block_btc: float
    blocks: int = Field(description="How many recent blocks were averaged")


class InputOut(Freshness):
    # An integer input (the tip height) stays an integer, as the `network.update` event carries it.
    value: int | float
    blocks: int | None = None


class HashpriceOut(BaseModel):
    usd_per_th_day: float
    btc_per_th_day: float
    block_height: int = Field(description="Height being mined (tip + 1), whose subsidy applies")
    halvings: int
    block_subsidy_btc: float
    avg_fees_per_block_btc: float
    blocks_per_day: float
    price_usd: float
    network_hashrate_hs: float
    formula: str
    inputs: dict[str, InputOut] = Field(description="Every input with its own source and age")
    source: Literal["computed"]
    as_of: float = Field(description="Oldest `as_of` among the inputs")
    stale: bool = Field(description="True when any input is stale")


class NetworkStats(Freshness):
    hashrate_hs: float
    hashrate_ehs: float
    difficulty: float
    tip_height: int = Field(description="Best tip known (see `tip` for its source)")
    attempts: list[AttemptOut]
    fallback_order: list[str]
    tip: TipOut
    next_adjustment: AdjustmentOut | None
    fees: FeesOut | None
    hashprice_usd_per_th_day: float | None
    hashprice: HashpriceOut | None
    hashprice_unavailable: str | None = Field(description="Why there is no hashprice, if none")


class BlockOut(BaseModel):
    height: int
    hash: str
    timestamp: float = Field(description="epoch seconds (block header time)")
    tx_count: int | None
    size_bytes: int | None
    total_fees_btc: float | None
    reward_btc: float | None
    median_fee_rate: float | None = Field(description="sat/vB")
    pool: str | None


class BlocksOut(Freshness):
    blocks: list[BlockOut]
    error: str | None


class HashratePointOut(BaseModel):
    t: float
    hashrate_hs: float
    hashrate_ehs: float


class HashrateHistory(Freshness):
    period: str
    points: list[HashratePointOut]
    error: str | None
