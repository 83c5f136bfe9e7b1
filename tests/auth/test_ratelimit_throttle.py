"""Fixed-window rate limits and the failed-auth throttle, on a manual clock."""

from __future__ import annotations

from backend.auth.ratelimit import MemoryRateLimiter, Window
from backend.auth.throttle import AuthThrottle, ThrottlePolicy
from backend.core.clock import ManualClock

WINDOWS = (Window("minute", 3, 60), Window("hour", 5, 3600))


async def test_windows_count_deny_and_reset() -> None:
    clock = ManualClock(start=1_700_000_080.0)  # 40 s into a minute
    limiter = MemoryRateLimiter(clock)
    for n in range(3):
        decision = await limiter.hit("k", WINDOWS)
        assert decision.allowed and decision.binding.remaining == 2 - n
    denied = await limiter.hit("k", WINDOWS)
    assert not denied.allowed and denied.retry_after == 20
    headers = dict(denied.headers())
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == "1700000100" and headers["Retry-After"] == "20"
    assert headers["RateLimit"] == '"minute";r=0;t=20'
    assert headers["RateLimit-Policy"] == '"minute";q=3;w=60, "hour";q=5;w=3600'
    assert (await limiter.hit("other", WINDOWS)).allowed  # per key
    clock.advance(20)
    assert (await limiter.hit("k", WINDOWS)).allowed
    assert (await limiter.hit("k", WINDOWS)).allowed
    hourly = await limiter.hit("k", WINDOWS)  # the hour window (5) is now the binding one
    assert not hourly.allowed and hourly.binding.window.name == "hour"
    assert hourly.retry_after > 60


async def test_denied_hits_are_not_counted() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    limiter = MemoryRateLimiter(clock)
    windows = (Window("minute", 1, 60),)
    assert (await limiter.hit("k", windows)).allowed
    for _ in range(10):
        assert not (await limiter.hit("k", windows)).allowed
    clock.advance(60)
    assert (await limiter.hit("k", windows)).allowed


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
