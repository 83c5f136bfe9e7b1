"""The retry schedule of miners that do not answer: doubling, capped, and safe for days."""

from __future__ import annotations

from dataclasses import dataclass

from backend.fleet.reachability import Backoff


@dataclass
class Miner:
    failures: int = 0
    next_due: float = 0.0


def test_each_unanswered_poll_doubles_the_wait_up_to_the_cap() -> None:
    backoff = Backoff(interval_s=10.0, max_s=300.0)
    miner = Miner()
    waits = []
    for sweep in range(8):
        started = 1000.0 + sweep * 10.0
        backoff.missed(miner, started)
        waits.append(miner.next_due - started)
    # due half an interval early, so the try lands on the sweep after the wait
    assert waits == [5.0, 15.0, 35.0, 75.0, 155.0, 295.0, 295.0, 295.0]
    assert backoff.due([miner], 1000.0 + 7 * 10.0 + 294.0) == []
    assert backoff.due([miner], 1000.0 + 7 * 10.0 + 295.0) == [miner]


def test_a_miner_dead_for_days_keeps_the_capped_wait() -> None:
    backoff = Backoff(interval_s=0.2, max_s=86_400.0)
    miner = Miner(failures=5000)  # ~17 days at a 300 s cap: past 2 ** 1024
    backoff.missed(miner, 0.0)
    assert miner.failures == 5001 and miner.next_due == 86_400.0 - 0.1


def test_an_answer_or_a_command_makes_it_due_every_sweep() -> None:
    backoff = Backoff(interval_s=10.0, max_s=300.0)
    miner = Miner(failures=6, next_due=5000.0)
    backoff.reset(miner)
    assert (miner.failures, miner.next_due) == (0, 0.0)
    assert backoff.due([miner], 0.0) == [miner]
