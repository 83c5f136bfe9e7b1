"""Hashprice: the expected USD revenue of 1 TH/s of hashing for one day.

    hashprice (USD / TH/s / day) =
        blocks_per_day × (block_subsidy + avg_fees_per_block) × price_usd / network_hashrate_ths

- blocks_per_day = 86 400 s / 600 s = 144, the protocol's target (difficulty keeps the real rate
  close to it; luck over a day is not forecastable).
- block_subsidy comes from the height of the next block: 50 BTC halved every 210 000 blocks
  (integer satoshi shifts, as consensus computes it; zero after 64 halvings).
- avg_fees_per_block is the mean of the transaction fees of recent blocks, in BTC.
- network_hashrate_ths = network hashrate in H/s / 10^12.
A miner with h TH/s gets the share h / network of the 144 daily blocks; multiplying gives the above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

HALVING_INTERVAL = 210_000
INITIAL_SUBSIDY_SATS = 50 * 100_000_000
SATS_PER_BTC = 100_000_000
BLOCKS_PER_DAY = 86_400 / 600
TH = 1e12
FORMULA = (
    "blocks_per_day × (block_subsidy_btc + avg_fees_per_block_btc) × price_usd "
    "÷ (network_hashrate_hs ÷ 10^12)"
)


def halvings(height: int) -> int:
    if height < 0:
        raise ValueError(f"height {height} is negative")
    return height // HALVING_INTERVAL


def subsidy_sats(height: int) -> int:
    count = halvings(height)
    return 0 if count >= 64 else INITIAL_SUBSIDY_SATS >> count


def subsidy_btc(height: int) -> float:
    return subsidy_sats(height) / SATS_PER_BTC


@dataclass(frozen=True, slots=True)
class Hashprice:
    usd_per_th_day: float
    btc_per_th_day: float
    block_height: int  # the block being mined now (tip + 1), whose subsidy applies
    halvings: int
    block_subsidy_btc: float
    avg_fees_per_block_btc: float
    blocks_per_day: float
    price_usd: float
    network_hashrate_hs: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute(
    price_usd: float, network_hashrate_hs: float, tip_height: int, avg_fees_per_block_btc: float
) -> Hashprice:
    if price_usd <= 0 or network_hashrate_hs <= 0:
        raise ValueError("price and hashrate must be positive")
    if avg_fees_per_block_btc < 0:
        raise ValueError("fees cannot be negative")
    height = tip_height + 1
    subsidy = subsidy_btc(height)
    btc_per_th_day = (
        BLOCKS_PER_DAY * (subsidy + avg_fees_per_block_btc) / (network_hashrate_hs / TH)
    )
    return Hashprice(
        usd_per_th_day=btc_per_th_day * price_usd,
        btc_per_th_day=btc_per_th_day,
        block_height=height,
        halvings=halvings(height),
        block_subsidy_btc=subsidy,
        avg_fees_per_block_btc=avg_fees_per_block_btc,
        blocks_per_day=BLOCKS_PER_DAY,
        price_usd=price_usd,
        network_hashrate_hs=network_hashrate_hs,
    )
