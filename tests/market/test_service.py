"""The market service against the loopback simulators: fallback, cache, 429, breaker, guard,
exchanges and history, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from backend.core.clock import ManualClock
from backend.market.service import MarketService, MarketUnavailable
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator
from tests.market.support import Harness, market_settings


@pytest.fixture
async def strict(tmp_path: Path, sim: MarketSimulator) -> AsyncIterator[Harness]:
    """A harness whose breaker opens after 2 failures and cools down for 30 s."""
    settings = market_settings(tmp_path, sim, breaker_failures=2, breaker_cooldown_s=30.0)
    instance = Harness(settings)
    try:
        yield instance
    finally:
        await instance.aclose()


def clock_of(harness: Harness) -> ManualClock:
    assert isinstance(harness.clock, ManualClock)
    return harness.clock


async def down(sim: MarketSimulator, name: str) -> None:
    sim.server(name).set_fault(Fault.DOWN)
    await sim.server(name).settle()


async def test_price_falls_back_coingecko_blockchain_info_mempool_then_cache(
    harness: Harness, sim: MarketSimulator
) -> None:
    service = MarketService(harness.context)
    result = await service.poll_price()
    assert result.reading is not None and result.reading.source == "coingecko"
    first = service.current()
    assert first.stale is False and first.via == "live"
    assert first.change_24h_pct is not None

    sim.server("coingecko").set_fault(Fault.HTTP_500)
    await service.poll_price()
    now = service.current()
    assert now.source == "blockchain_info" and now.stale is False
    assert now.change_24h_pct is None  # blockchain.info has none: unknown, not 0 %
    assert "HTTP 500" in (now.attempts[0].error or "")

    await down(sim, "blockchain_info")
    clock_of(harness).advance(10)  # rounds are seconds apart (blockchain.info /stats is reused 5 s)
    await service.poll_price()
    assert service.current().source == "mempool"

    sim.server("mempool").set_fault(Fault.MALFORMED)
    result = await service.poll_price()
    assert result.via == "cache"
    clock_of(harness).advance(100)
    cached = service.current()
    assert cached.source == "mempool" and cached.stale is True and cached.via == "cache"
    assert cached.age_s >= 100
    assert [a.ok for a in cached.attempts] == [False, False, False]
    assert "HTTP 500" in harness.integration("coingecko")["last_error"]
    assert "not valid JSON" in harness.integration("mempool")["last_error"]
    assert harness.integration("blockchain_info")["status"] in ("degraded", "down")


async def test_no_price_at_all_says_why(harness: Harness, sim: MarketSimulator) -> None:
    for name in ("coingecko", "blockchain_info", "mempool"):
        sim.server(name).set_fault(Fault.HTTP_500)
    service = MarketService(harness.context)
    with pytest.raises(MarketUnavailable, match="no price fetched yet"):
        service.current()
    await service.poll_price()
    with pytest.raises(MarketUnavailable, match="coingecko: coingecko: HTTP 500"):
        service.current()


async def test_429_retry_after_is_honoured(strict: Harness, sim: MarketSimulator) -> None:
    service = MarketService(strict.context)
    coingecko = sim.server("coingecko")
    coingecko.set_fault(Fault.HTTP_429, retry_after_s=30)
    await service.poll_price()
    price = service.current()
    assert price.source == "blockchain_info"
    assert "rate limited (HTTP 429), retry after 30s" in (price.attempts[0].error or "")
    coingecko.clear_fault()
    calls = len(coingecko.requests)
    await service.poll_price()
    await service.poll_price()
    assert len(coingecko.requests) == calls, "called again before Retry-After elapsed"
    assert service.current().source == "blockchain_info"
    clock_of(strict).advance(31)
    await service.poll_price()
    assert service.current().source == "coingecko"
    assert len(coingecko.requests) == calls + 1


async def test_failing_provider_trips_its_breaker_and_is_not_hammered(
    strict: Harness, sim: MarketSimulator
) -> None:
    service = MarketService(strict.context)
    coingecko = sim.server("coingecko")
    coingecko.set_fault(Fault.HTTP_500)
    await service.poll_price()
    await service.poll_price()  # second failure opens the circuit
    assert "(circuit open)" in strict.integration("coingecko")["last_error"]
    assert strict.integration("coingecko")["status"] == "down"
    calls = len(coingecko.requests)
    for _ in range(3):
        result = await service.poll_price()
        assert "circuit open" in (result.attempts[0].error or "")
        assert result.reading is not None and result.reading.source == "blockchain_info"
    assert len(coingecko.requests) == calls
    coingecko.clear_fault()
    clock_of(strict).advance(31)  # cool-down over: one trial call closes it again
    result = await service.poll_price()
    assert result.reading is not None and result.reading.source == "coingecko"
    assert strict.integration("coingecko")["status"] == "ok"


async def test_slow_provider_times_out_and_the_next_one_answers(
    harness: Harness, sim: MarketSimulator
) -> None:
    sim.server("coingecko").set_fault(Fault.SLOW, delay_s=2.0)
    service = MarketService(harness.context)
    started = time.monotonic()
    await service.poll_price()
    assert time.monotonic() - started < 2.0  # 0.5 s timeout, one retry
    price = service.current()
    assert price.source == "blockchain_info"
    assert "timeout" in (price.attempts[0].error or "")


async def test_absurd_price_is_rejected_logged_and_the_next_provider_used(
    harness: Harness, sim: MarketSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.server("coingecko").set_fault(Fault.ABSURD)
    service = MarketService(harness.context)
    await service.poll_price()
    price = service.current()
    assert price.source == "blockchain_info" and price.price_usd > 0
    assert "absurd price rejected" in harness.integration("coingecko")["last_error"]
    assert any("rejected" in r.getMessage() for r in caplog.records)


async def test_coingecko_demo_key_goes_in_its_header(tmp_path: Path, sim: MarketSimulator) -> None:
    settings = market_settings(tmp_path, sim, coingecko_api_key=SecretStr("demo-key-123"))
    harness = Harness(settings)
    try:
        await MarketService(harness.context).poll_price()
    finally:
        await harness.aclose()
    request = sim.server("coingecko").last_request
    assert request is not None and request.headers.get("x-cg-demo-api-key") == "demo-key-123"
    assert "demo-key-123" not in str(harness.health.snapshot())


async def test_price_tick_is_published_on_the_prices_channel(
    harness: Harness, sim: MarketSimulator
) -> None:
    subscription = harness.bus.subscribe({"prices"})
    await MarketService(harness.context).poll_price()
    event = await asyncio.wait_for(subscription.get(), 2)
    assert event.type == "price.tick" and event.data["source"] == "coingecko"
    assert event.data["price_usd"] > 0


async def test_exchanges_aggregate_complete(harness: Harness, sim: MarketSimulator) -> None:
    service = MarketService(harness.context)
    snapshot = await service.poll_exchanges()
    venues = {v.venue: v for v in snapshot.venues}
    assert set(venues) == {"okx", "binance", "deribit", "bybit"}
    assert all(v.status == "ok" and v.stale is False for v in venues.values())
    assert venues["deribit"].quote == "USD" and venues["okx"].quote == "USDT"
    assert venues["deribit"].index_price_usd is not None
    aggregate = snapshot.aggregate
    assert aggregate.completeness_pct == 100.0
    prices = [v.price for v in venues.values()]
    assert min(prices) <= aggregate.vwap_usd <= max(prices)
    assert aggregate.spread_usd == pytest.approx(max(prices) - min(prices))
    assert aggregate.total_volume_btc == pytest.approx(
        sum(v.volume_24h_btc for v in venues.values())
    )


async def test_a_failing_venue_lowers_completeness_and_keeps_its_last_price_stale(
    harness: Harness, sim: MarketSimulator
) -> None:
    service = MarketService(harness.context)
    await service.poll_exchanges()
    sim.server("binance").set_fault(Fault.HTTP_500)
    snapshot = await service.poll_exchanges()
    venues = {v.venue: v for v in snapshot.venues}
    assert venues["binance"].status == "error" and "HTTP 500" in venues["binance"].error
    assert venues["binance"].price is not None and venues["binance"].stale is True
    aggregate = snapshot.aggregate
    assert aggregate.completeness_pct == 75.0 and aggregate.venues_ok == 3
    assert "binance" not in aggregate.venues_in_aggregate


async def test_venues_run_in_parallel_each_with_its_own_timeout(
    harness: Harness, sim: MarketSimulator
) -> None:
    sim.server("okx").set_fault(Fault.SLOW, delay_s=3.0)
    sim.server("bybit").set_fault(Fault.ABSURD)
    service = MarketService(harness.context)
    started = time.monotonic()
    snapshot = await service.poll_exchanges()
    assert time.monotonic() - started < 1.5
    venues = {v.venue: v for v in snapshot.venues}
    assert venues["okx"].status == "error" and "timeout" in venues["okx"].error
    assert venues["bybit"].status == "error" and "rejected" in venues["bybit"].error
    assert venues["binance"].status == venues["deribit"].status == "ok"
    assert snapshot.aggregate.completeness_pct == 50.0


@pytest.mark.parametrize(("period", "points"), [("1d", 289), ("7d", 169), ("30d", 721)])
async def test_history_periods(
    harness: Harness, sim: MarketSimulator, period: str, points: int
) -> None:
    history = await MarketService(harness.context).history(period)
    assert history.period == period and len(history.points) == points
    times = [p.t for p in history.points]
    assert times == sorted(times) and times[-1] < 1e11  # seconds, not ms
    assert history.source == "coingecko" and history.stale is False


async def test_history_is_cached_then_served_stale_when_coingecko_fails(
    harness: Harness, sim: MarketSimulator
) -> None:
    service = MarketService(harness.context)
    coingecko = sim.server("coingecko")
    await service.history("1d")
    calls = len(coingecko.requests)
    await asyncio.gather(service.history("1d"), service.history("1d"))
    assert len(coingecko.requests) == calls
    coingecko.set_fault(Fault.HTTP_500)
    clock_of(harness).advance(harness.context.settings.history_cache_s + 1)
    stale = await service.history("1d")
    assert stale.via == "cache" and stale.stale is True and "HTTP 500" in stale.error
    with pytest.raises(MarketUnavailable, match="no price history"):
        await service.history("7d")
    with pytest.raises(ValueError, match="period must be one of"):
        await service.history("2d")


async def test_live_prices_are_recorded_once_per_interval_and_cached_ones_never(
    harness: Harness, sim: MarketSimulator
) -> None:
    service = MarketService(harness.context)
    clock = clock_of(harness)
    every = harness.context.settings.market_record_s
    await service.poll_price()
    await service.poll_price()  # same interval: not recorded again
    assert await service.recorder.count("btc_price") == 1
    clock.advance(every + 1)
    await asyncio.sleep(1.05)  # the simulator stamps its quotes in whole seconds
    await service.poll_price()
    assert await service.recorder.count("btc_price") == 2
    for name in ("coingecko", "blockchain_info", "mempool"):
        await down(sim, name)
    clock.advance(every + 1)
    result = await service.poll_price()
    assert result.via == "cache"
    assert await service.recorder.count("btc_price") == 2  # a cached price is not a new sample
    rows = await service.recorder.series("btc_price", 0, clock.time() + 1)
    assert [source for _t, _v, source in rows] == ["coingecko", "coingecko"]


async def test_start_polls_in_the_background_and_stop_is_quick(
    harness: Harness, sim: MarketSimulator
) -> None:
    subscription = harness.bus.subscribe({"prices", "exchanges"})
    service = MarketService(harness.context)
    await service.start()
    seen = set()
    while seen != {"price.tick", "exchanges.update"}:
        seen.add((await asyncio.wait_for(subscription.get(), 3)).type)
    started = time.monotonic()
    await service.stop()
    assert time.monotonic() - started < 1.0


async def test_disabled_market_polls_nothing_and_says_so(
    tmp_path: Path, sim: MarketSimulator
) -> None:
    harness = Harness(market_settings(tmp_path, sim, market_enabled=False))
    try:
        service = MarketService(harness.context)
        await service.start()
        await service.stop()
        assert harness.integration("coingecko")["status"] == "disabled"
        with pytest.raises(MarketUnavailable, match="disabled"):
            service.current()
        with pytest.raises(MarketUnavailable, match="disabled"):
            service.exchanges()
    finally:
        await harness.aclose()
    assert sim.server("coingecko").requests == []
