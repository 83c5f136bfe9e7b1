"""Failed-authentication throttling per client address: slowed down first, then blocked a while.

A guessing client gets ever slower answers once it passes `slow_after` failures in the window, and
is refused outright for `block_s` once it passes `block_after`. Counts feed the health view.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from backend.core.backoff import exponential
from backend.core.clock import SYSTEM_CLOCK, Clock

MAX_ADDRESSES = 100_000
FIRST_DELAY_S = 0.1
# Key checks (one DB row + one Argon2id each) one address may have waiting or running at once.
# Failures are counted when a check ends, so without this bound an address could queue any
# number of checks before its first failure counts, and every other caller would wait behind them.
MAX_PENDING_CHECKS = 2


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window_s: float = 600.0
    slow_after: int = 5
    block_after: int = 30
    block_s: float = 900.0
    slow_max_s: float = 2.0


class AuthThrottle:
    def __init__(self, policy: ThrottlePolicy, clock: Clock = SYSTEM_CLOCK) -> None:
        self.policy = policy
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: dict[str, float] = {}
        self._pending: dict[str, int] = {}
        self.failures_total = 0
        self.blocks_total = 0

    def blocked_for(self, address: str) -> float | None:
        """Seconds this address stays blocked, or None."""
        until = self._blocked.get(address)
        if until is None:
            return None
        remaining = until - self._clock.monotonic()
        if remaining <= 0:
            del self._blocked[address]
            return None
        return remaining

    def failure(self, address: str) -> float:
        """Count one failed authentication; return how long to delay the answer (seconds)."""
        now = self._clock.monotonic()
        self.failures_total += 1
        hits = self._failures.pop(address, None) or deque()
        self._failures[address] = hits
        while hits and hits[0] <= now - self.policy.window_s:
            hits.popleft()
        hits.append(now)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
        count = len(hits)
        if count >= self.policy.block_after:
            self.block(address, self.policy.block_s)
            hits.clear()
            return 0.0
        return self.delay_for(count)

    def delay_for(self, count: int) -> float:
        """How long to delay the answer to the `count`-th failure in the window."""
        over = count - self.policy.slow_after
        if over <= 0:
            return 0.0
        return exponential(over, base_s=FIRST_DELAY_S, cap_s=self.policy.slow_max_s)

    def block(self, address: str, seconds: float, *, counted: bool = True) -> None:
        """Block an address for `seconds`; `counted=False` mirrors a block set elsewhere (another
        instance), which that instance counts."""
        self._blocked[address] = self._clock.monotonic() + seconds
        if counted:
            self.blocks_total += 1

    def begin_check(self, address: str) -> bool:
        """Admit one more key check from this address, or False when it has enough pending."""
        pending = self._pending.get(address, 0)
        if pending >= MAX_PENDING_CHECKS:
            return False
        self._pending[address] = pending + 1
        return True

    def end_check(self, address: str) -> None:
        pending = self._pending.pop(address, 0) - 1
        if pending > 0:
            self._pending[address] = pending

    def success(self, address: str) -> None:
        """A good key from this address: forget its failures (a block stays)."""
        self._failures.pop(address, None)

    def stats(self) -> dict[str, int]:
        now = self._clock.monotonic()
        recent = sum(
            1
            for hits in self._failures.values()
            if hits and hits[-1] > now - self.policy.window_s and len(hits) > self.policy.slow_after
        )
        blocked = sum(1 for until in self._blocked.values() if until > now)
        return {
            "failures": self.failures_total,
            "slowed_addresses": recent,
            "blocked_addresses": blocked,
            "blocks": self.blocks_total,
        }
