"""Hashprice: subsidy from height (halvings) and the documented formula."""

from __future__ import annotations

import pytest

from backend.chain.hashprice import compute, halvings, subsidy_btc, subsidy_sats


@pytest.mark.parametrize(
    ("height", "btc"),
    [
        (0, 50.0),
        (209_999, 50.0),
        (210_000, 25.0),
        (420_000, 12.5),
        (630_000, 6.25),
        (839_999, 6.25),
        (840_000, 3.125),
        (1_050_000, 1.5625),
    ],
)
def test_subsidy_halves_every_210000_blocks(height: int, btc: float) -> None:
    assert subsidy_btc(height) == btc


def test_subsidy_uses_satoshi_shifts_and_ends() -> None:
    assert subsidy_sats(210_000 * 10) == 4_882_812  # 50 BTC >> 10, truncated like consensus
    assert subsidy_sats(210_000 * 64) == 0
    assert halvings(905_000) == 4
    with pytest.raises(ValueError):
        halvings(-1)


def test_hashprice_formula_with_known_inputs() -> None:
    value = compute(
        price_usd=100_000.0,
        network_hashrate_hs=1e21,  # 1,000 EH/s = 10^9 TH/s
        tip_height=899_999,  # the next block is 900,000: 3.125 BTC
        avg_fees_per_block_btc=0.125,
    )
    assert value.block_height == 900_000 and value.block_subsidy_btc == 3.125
    assert value.btc_per_th_day == pytest.approx(144 * 3.25 / 1e9)
    assert value.usd_per_th_day == pytest.approx(0.0468)


def test_hashprice_uses_the_next_blocks_subsidy_at_a_halving() -> None:
    before = compute(100_000.0, 1e21, 839_998, 0.0)
    at = compute(100_000.0, 1e21, 839_999, 0.0)
    assert before.block_subsidy_btc == 6.25 and at.block_subsidy_btc == 3.125
    assert at.usd_per_th_day == pytest.approx(before.usd_per_th_day / 2)


def test_hashprice_refuses_impossible_inputs() -> None:
    with pytest.raises(ValueError):
        compute(0.0, 1e21, 900_000, 0.1)
    with pytest.raises(ValueError):
        compute(100_000.0, 1e21, 900_000, -0.1)
