"""When a miner that does not answer is asked again: exponential backoff per miner.

Dead addresses must not eat a sweep's time budget, so each unanswered poll doubles the wait:
1, 2, 4 ... sweep intervals, capped at ``fleet_backoff_max_s``. No jitter: every miner is
polled in the same sweep anyway, so there is no herd to spread, and a miner's next poll lands
on a sweep (half an interval early, never a whole one late). The count and the due time live
on the miner's state (``failures``, ``next_due``); this object is the one schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from backend.core.backoff import exponential


class Scheduled(Protocol):
    failures: int
    next_due: float


S = TypeVar("S", bound=Scheduled)


class Backoff:
    __slots__ = ("interval_s", "max_s")

    def __init__(self, interval_s: float, max_s: float) -> None:
        self.interval_s = interval_s
        self.max_s = max_s

    def delay(self, failures: int) -> float:
        """Seconds from one unanswered poll to the next try, after ``failures`` in a row (a
        miner dead for days counts past a thousand failures: the schedule stays at the cap)."""
        return exponential(failures, base_s=self.interval_s, cap_s=self.max_s)

    def due(self, states: Iterable[S], now: float) -> list[S]:
        return [s for s in states if s.next_due <= now]

    def missed(self, state: Scheduled, started: float) -> None:
        """The poll of a sweep that started at ``started`` went unanswered."""
        state.failures += 1
        state.next_due = started + self.delay(state.failures) - self.interval_s / 2

    @staticmethod
    def reset(state: Scheduled) -> None:
        """Answered, or asked for now (a command, a reboot being watched): due every sweep."""
        state.failures = 0
        state.next_due = 0.0
