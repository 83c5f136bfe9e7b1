"""The fallback chain with stand-in sources: order, skipping, guard, cache, staleness."""

from __future__ import annotations

import pytest

from backend.core.clock import ManualClock
from backend.core.http import ProviderError
from backend.providers.fallback import FallbackChain, Source
from backend.providers.values import Reading, freshness


class Stub:
    """A source whose answer the test sets; counts calls and rejections."""

    def __init__(self, name: str, clock: ManualClock) -> None:
        self.name = name
        self.clock = clock
        self.value: float | Exception = 100.0
        self.calls = 0
        self.rejections: list[str] = []

    def source(self) -> Source[float]:
        return Source(self.name, self.fetch, self.rejections.append)

    async def fetch(self) -> tuple[float, float]:
        self.calls += 1
        if isinstance(self.value, Exception):
            raise self.value
        return self.value, self.clock.time()


def guard_positive(value: float, _last: Reading[float] | None, _now: float) -> str | None:
    return None if value > 0 else f"{value} is not positive"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make(clock: ManualClock, *names: str) -> tuple[FallbackChain[float], list[Stub]]:
    stubs = [Stub(name, clock) for name in names]
    return FallbackChain("price", [s.source() for s in stubs], clock, guard_positive), stubs


async def test_first_good_source_wins_and_later_ones_are_not_called(clock: ManualClock) -> None:
    chain, (a, b, c) = make(clock, "a", "b", "c")
    result = await chain.fetch()
    assert result.via == "live" and result.reading is not None and result.reading.source == "a"
    assert (a.calls, b.calls, c.calls) == (1, 0, 0)


async def test_failures_fall_through_in_order_and_are_recorded(clock: ManualClock) -> None:
    chain, (a, b, c) = make(clock, "a", "b", "c")
    a.value = ProviderError("a", "HTTP 500", 500)
    b.value = ProviderError("b", "timeout after 1s")
    c.value = 42.0
    result = await chain.fetch()
    assert result.reading is not None and result.reading.source == "c"
    assert result.reading.value == 42.0
    assert [(x.source, x.ok) for x in result.attempts] == [("a", False), ("b", False), ("c", True)]
    assert "HTTP 500" in result.errors() and "timeout" in result.errors()


async def test_absurd_value_is_rejected_reported_and_skipped(clock: ManualClock) -> None:
    chain, (a, _b) = make(clock, "a", "b")
    a.value = -5.0
    result = await chain.fetch()
    assert result.reading is not None and result.reading.source == "b"
    assert a.rejections and "not positive" in a.rejections[0]
    assert result.attempts[0].error is not None and "rejected" in result.attempts[0].error


async def test_an_adapter_bug_does_not_stop_the_chain(clock: ManualClock) -> None:
    chain, (a, _b) = make(clock, "a", "b")
    a.value = KeyError("oops")
    result = await chain.fetch()
    assert result.reading is not None and result.reading.source == "b"
    assert result.attempts[0].error == "internal error: KeyError"


async def test_all_failing_serves_the_cache_marked_stale_with_its_age(clock: ManualClock) -> None:
    chain, (a, b) = make(clock, "a", "b")
    a.value = 97_000.0
    first = await chain.fetch()
    assert first.reading is not None
    assert freshness(first.reading, first.via, clock.time(), 60)["stale"] is False
    clock.advance(45)
    a.value = ProviderError("a", "down")
    b.value = ProviderError("b", "down")
    cached = await chain.fetch()
    assert cached.via == "cache" and cached.reading is first.reading
    shown = freshness(cached.reading, cached.via, clock.time(), 60)
    expected = {"source": "a", "age_s": 45.0, "stale": True, "via": "cache"}
    assert shown == {**expected, "as_of": first.reading.as_of}


async def test_nothing_ever_fetched_gives_no_value(clock: ManualClock) -> None:
    chain, (a,) = make(clock, "a")
    a.value = ProviderError("a", "down")
    result = await chain.fetch()
    assert result.reading is None and result.via == "none" and "down" in result.errors()


async def test_old_live_value_is_stale_even_without_failure(clock: ManualClock) -> None:
    chain, _stubs = make(clock, "a")
    result = await chain.fetch()
    assert result.reading is not None
    clock.advance(61)
    assert freshness(result.reading, "live", clock.time(), 60)["stale"] is True


async def test_idle_fallbacks_are_probed_for_health_only(clock: ManualClock) -> None:
    chain, (a, _b, c) = make(clock, "a", "b", "c")
    await chain.fetch()
    c.value = -1.0
    attempts = await chain.probe_idle(idle_s=300)
    assert [(x.source, x.ok) for x in attempts] == [("b", True), ("c", False)]
    assert c.rejections and chain.last is not None and chain.last.source == "a"
    assert await chain.probe_idle(idle_s=300) == []  # probed recently: left alone
    clock.advance(301)
    await chain.fetch()
    assert [x.source for x in await chain.probe_idle(idle_s=300)] == ["b", "c"]
    assert a.calls == 2
