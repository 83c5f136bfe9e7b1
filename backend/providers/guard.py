"""The absurd-value guard: a value that parses but cannot be true is rejected, not shown.

Two kinds of checks: hard bounds (a negative price, a hashrate of a few GH/s) and a jump limit
against the last accepted value (a unit slip such as GH/s read as H/s moves a number by 10^9; a
real BTC price does not move 25 % between two polls). The jump check only applies while the last
value is recent: after a long outage the market may really have moved, and a guard anchored on a
stale value must not lock out every fresh answer forever.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_BOUNDS_USD = (1.0, 100_000_000.0)
HASHRATE_BOUNDS_HS = (1e15, 1e24)  # 1 PH/s .. 1,000,000 EH/s
DIFFICULTY_BOUNDS = (1.0, 1e20)
MAX_TIP_ADVANCE = 5_000  # blocks between two accepted readings (~35 days)
MAX_REORG_DEPTH = 10
MAX_FEES_PER_BLOCK_BTC = 50.0  # the record is ~ 40 BTC (2024 runes launch)


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last accepted value a new one is compared with."""

    value: float
    source: str
    fetched_at: float


@dataclass(frozen=True, slots=True)
class GuardLimits:
    price_max_jump_pct: float = 25.0
    hashrate_max_ratio: float = 10.0
    reset_after_s: float = 900.0


def check_price(
    price_usd: float, last: Anchor | None, now: float, limits: GuardLimits
) -> str | None:
    """None when plausible, else the reason to reject (for logs and health)."""
    low, high = PRICE_BOUNDS_USD
    if not low <= price_usd <= high:
        return f"price {price_usd:g} USD outside {low:g}..{high:g}"
    if last is None or now - last.fetched_at > limits.reset_after_s:
        return None
    jump = abs(price_usd - last.value) / last.value * 100
    if jump > limits.price_max_jump_pct:
        return (
            f"price {price_usd:.2f} USD is {jump:.0f}% away from the last accepted "
            f"{last.value:.2f} ({last.source}); limit {limits.price_max_jump_pct:g}%"
        )
    return None


def check_hashrate(
    hashrate_hs: float, last: Anchor | None, now: float, limits: GuardLimits
) -> str | None:
    low, high = HASHRATE_BOUNDS_HS
    if not low <= hashrate_hs <= high:
        return f"hashrate {hashrate_hs:.3g} H/s outside {low:.0e}..{high:.0e} H/s (unit error?)"
    if last is None or now - last.fetched_at > limits.reset_after_s:
        return None
    ratio = max(hashrate_hs / last.value, last.value / hashrate_hs)
    if ratio > limits.hashrate_max_ratio:
        return (
            f"hashrate {hashrate_hs:.3g} H/s is {ratio:.3g}x the last accepted "
            f"{last.value:.3g} H/s ({last.source}); limit {limits.hashrate_max_ratio:g}x"
        )
    return None


def check_difficulty(difficulty: float) -> str | None:
    low, high = DIFFICULTY_BOUNDS
    if not low <= difficulty <= high:
        return f"difficulty {difficulty:.3g} outside {low:g}..{high:.0e}"
    return None


def check_tip(height: int, last: Anchor | None, now: float, limits: GuardLimits) -> str | None:
    if height <= 0:
        return f"tip height {height} is not positive"
    if last is None or now - last.fetched_at > limits.reset_after_s:
        return None
    previous = int(last.value)
    if height < previous - MAX_REORG_DEPTH:
        return f"tip height {height} is {previous - height} blocks below the last {previous}"
    if height > previous + MAX_TIP_ADVANCE:
        return f"tip height {height} jumps {height - previous} blocks past the last {previous}"
    return None


def check_hashrate_vs_difficulty(
    hashrate_hs: float, difficulty: float, max_ratio: float
) -> str | None:
    """Difficulty fixes the hashrate it implies (D × 2^32 / 600 s); a reading far from it has a
    unit error even when there is no previous value to compare with."""
    implied = difficulty * 2**32 / 600
    ratio = max(hashrate_hs / implied, implied / hashrate_hs)
    if ratio > max_ratio:
        return (
            f"hashrate {hashrate_hs:.3g} H/s is {ratio:.3g}x the {implied:.3g} H/s that "
            f"difficulty {difficulty:.3g} implies"
        )
    return None


def check_fees_per_block(avg_fees_btc: float) -> str | None:
    if not 0 <= avg_fees_btc <= MAX_FEES_PER_BLOCK_BTC:
        return f"mean fees per block {avg_fees_btc:g} BTC outside 0..{MAX_FEES_PER_BLOCK_BTC:g}"
    return None
