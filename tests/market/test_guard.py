"""The absurd-value guard on its own: bounds, jumps against the last value, and its expiry."""

from __future__ import annotations

from backend.providers.guard import (
    Anchor,
    GuardLimits,
    check_fees_per_block,
    check_hashrate,
    check_hashrate_vs_difficulty,
    check_price,
    check_tip,
)

LIMITS = GuardLimits(price_max_jump_pct=25, hashrate_max_ratio=10, reset_after_s=900)
NOW = 1_800_000_000.0


def test_price_bounds() -> None:
    assert check_price(97_000.0, None, NOW, LIMITS) is None
    assert "outside" in (check_price(-97_000.0, None, NOW, LIMITS) or "")
    assert check_price(0.0, None, NOW, LIMITS) is not None
    assert check_price(1e12, None, NOW, LIMITS) is not None


def test_price_jump_against_a_recent_value_only() -> None:
    last = Anchor(97_000.0, "coingecko", NOW - 30)
    assert check_price(99_000.0, last, NOW, LIMITS) is None
    reason = check_price(970.0, last, NOW, LIMITS)  # cents read as dollars
    assert reason is not None and "coingecko" in reason and "99%" in reason
    old = Anchor(97_000.0, "coingecko", NOW - 3600)  # after a long outage the market may move
    assert check_price(60_000.0, old, NOW, LIMITS) is None


def test_hashrate_off_by_1e9_is_rejected_with_or_without_history() -> None:
    good = 8.0e20
    assert check_hashrate(good, None, NOW, LIMITS) is None
    assert check_hashrate(good * 1e9, None, NOW, LIMITS) is not None  # GH/s taken for H/s
    last = Anchor(good, "mempool", NOW - 60)
    assert check_hashrate(good * 1.05, last, NOW, LIMITS) is None
    assert "x the last" in (check_hashrate(good * 20, last, NOW, LIMITS) or "")


def test_hashrate_must_match_what_difficulty_implies() -> None:
    difficulty = 1.1e14
    implied = difficulty * 2**32 / 600
    assert check_hashrate_vs_difficulty(implied * 1.1, difficulty, 4) is None
    assert check_hashrate_vs_difficulty(implied * 1e9, difficulty, 4) is not None
    assert check_hashrate_vs_difficulty(implied / 1e3, difficulty, 4) is not None


def test_tip_reorg_and_jump_limits() -> None:
    last = Anchor(900_000.0, "mempool", NOW - 60)
    assert check_tip(900_001, last, NOW, LIMITS) is None
    assert check_tip(899_995, last, NOW, LIMITS) is None  # a short reorg is real
    assert check_tip(800_000, last, NOW, LIMITS) is not None
    assert check_tip(990_000, last, NOW, LIMITS) is not None
    assert check_tip(0, None, NOW, LIMITS) is not None


def test_fees_per_block_bounds() -> None:
    assert check_fees_per_block(0.08) is None
    assert check_fees_per_block(8_000_000.0) is not None  # satoshis read as BTC
    assert check_fees_per_block(-0.1) is not None
