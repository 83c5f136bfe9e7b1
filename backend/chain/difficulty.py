"""Next difficulty adjustment, estimated from an average block time.

Every 2016 blocks the difficulty is multiplied by (2016 × 600 s) / (time the period took), i.e. by
600 s / mean block time. So with a mean block time `avg` observed so far, the estimated change is
(600 / avg − 1) × 100 %, and the retarget is expected `remaining × avg` seconds after the reference
time. (mempool.space computes the same from its own block data; we use its answer when we have it.)
"""

from __future__ import annotations

from backend.chain.models import RETARGET_INTERVAL, TARGET_BLOCK_TIME_S, NextAdjustment
from backend.providers.values import PayloadError


def next_retarget_height(tip_height: int) -> int:
    return tip_height - tip_height % RETARGET_INTERVAL + RETARGET_INTERVAL


def estimate(
    tip_height: int, avg_block_time_s: float, reference_time: float, method: str
) -> NextAdjustment:
    if avg_block_time_s <= 0:
        raise PayloadError(f"{method}: mean block time {avg_block_time_s:g}s is not positive")
    target = next_retarget_height(tip_height)
    remaining = target - tip_height
    return NextAdjustment(
        estimated_change_pct=(TARGET_BLOCK_TIME_S / avg_block_time_s - 1) * 100,
        remaining_blocks=remaining,
        estimated_date=reference_time + remaining * avg_block_time_s,
        next_retarget_height=target,
        progress_pct=(RETARGET_INTERVAL - remaining) / RETARGET_INTERVAL * 100,
        avg_block_time_s=avg_block_time_s,
        method=method,
    )
