"""One backoff schedule: doubling from the base, capped, safe for any count, bounded jitter."""

from __future__ import annotations

import random

import pytest

from backend.core.backoff import Jitter, exponential


def test_the_schedule_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [exponential(n, base_s=0.5, cap_s=10.0) for n in range(1, 9)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_no_failure_yet_waits_the_base() -> None:
    assert exponential(0, base_s=10.0, cap_s=600.0) == 10.0
    assert exponential(-3, base_s=10.0, cap_s=600.0) == 10.0


@pytest.mark.parametrize("attempt", [1024, 1025, 5000, 10**6, 10**18])
def test_a_huge_count_stays_at_the_cap_without_overflow(attempt: int) -> None:
    assert exponential(attempt, base_s=0.2, cap_s=86_400.0) == 86_400.0
    assert exponential(attempt, base_s=3.0, cap_s=7.0, jitter="full") <= 7.0


@pytest.mark.parametrize(("jitter", "low_share"), [("full", 0.0), ("equal", 0.5), ("none", 1.0)])
def test_jitter_draws_within_its_bounds(jitter: Jitter, low_share: float) -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        draws = [
            exponential(attempt, base_s=0.5, cap_s=60.0, jitter=jitter, rng=rng) for _ in range(200)
        ]
        assert all(ceiling * low_share <= d <= ceiling for d in draws)
        if jitter != "none":  # spread over the range, not one value
            assert max(draws) - min(draws) > ceiling * (1 - low_share) / 2


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    one = [exponential(4, base_s=1.0, cap_s=30.0, jitter="equal", rng=random.Random(1))]
    two = [exponential(4, base_s=1.0, cap_s=30.0, jitter="equal", rng=random.Random(1))]
    assert one == two and 4.0 <= one[0] <= 8.0
