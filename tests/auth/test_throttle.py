"""The failed-auth throttle, on a manual clock (rate limits: tests/scale/test_shared_state.py)."""

from __future__ import annotations

from backend.auth.throttle import AuthThrottle, ThrottlePolicy
from backend.core.clock import ManualClock


def test_throttle_slows_then_blocks_then_forgets() -> None:
    clock = ManualClock()
    throttle = AuthThrottle(
        ThrottlePolicy(window_s=60, slow_after=2, block_after=5, block_s=30, slow_max_s=0.5), clock
    )
    delays = [throttle.failure("1.2.3.4") for _ in range(4)]
    assert delays == [0.0, 0.0, 0.1, 0.2]
    assert throttle.blocked_for("1.2.3.4") is None
    throttle.failure("1.2.3.4")
    assert throttle.blocked_for("1.2.3.4") == 30
    assert throttle.blocked_for("5.6.7.8") is None
    assert throttle.stats()["blocked_addresses"] == 1
    clock.advance(31)
    assert throttle.blocked_for("1.2.3.4") is None
    throttle.failure("9.9.9.9")
    throttle.failure("9.9.9.9")
    throttle.success("9.9.9.9")
    assert throttle.failure("9.9.9.9") == 0.0  # a good key reset the count
    clock.advance(61)
    for _ in range(2):
        throttle.failure("8.8.8.8")
    clock.advance(61)  # old failures leave the window
    assert throttle.failure("8.8.8.8") == 0.0


def test_an_address_may_have_only_a_few_key_checks_pending() -> None:
    throttle = AuthThrottle(ThrottlePolicy())
    assert [throttle.begin_check("1.2.3.4") for _ in range(3)] == [True, True, False]
    assert throttle.begin_check("5.6.7.8")  # the bound is per address
    throttle.end_check("1.2.3.4")
    assert throttle.begin_check("1.2.3.4")  # a finished check frees its place
    assert not throttle.begin_check("1.2.3.4")
