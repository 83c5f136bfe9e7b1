"""Recorded market samples on SQLite and on PostgreSQL: what charts and reports read back."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.providers.samples import SampleRecorder

START = 1_700_000_000.0


def recorder(database: Database, clock: ManualClock) -> SampleRecorder:
    return SampleRecorder(database, clock, every_s=60, keep_days=30)


async def test_one_sample_per_interval_and_only_fresh_values(database: Database) -> None:
    clock = ManualClock(start=START)
    samples = recorder(database, clock)
    assert await samples.record({"btc_price": 97_000.0, "bogus": 1.0}, "coingecko", START) == 1
    clock.advance(30)
    assert await samples.record({"btc_price": 97_100.0}, "coingecko", START + 30) == 0  # too soon
    clock.advance(60)
    assert await samples.record({"btc_price": 97_200.0}, "coingecko", START + 30) == 1
    clock.advance(60)
    assert await samples.record({"btc_price": 97_300.0}, "cache", START + 30) == 0  # not updated
    assert await samples.count("btc_price") == 2 and await samples.count("bogus") == 0


async def test_series_thins_evenly_and_always_ends_with_the_latest(database: Database) -> None:
    clock = ManualClock(start=START)
    samples = SampleRecorder(database, clock, every_s=0, keep_days=30)
    for n in range(25):
        await samples.record({"difficulty": 1e14 + n}, "mempool.space", START + 60 * n)
    everything = await samples.series("difficulty", START, START + 3600)
    assert [value for _, value, _ in everything] == [1e14 + n for n in range(25)]
    assert everything[0][0] == START and everything[0][2] == "mempool.space"
    thinned = await samples.series("difficulty", START, START + 3600, max_points=10)
    assert len(thinned) <= 11 and thinned[-1][1] == 1e14 + 24
    window = await samples.series("difficulty", START + 600, START + 1200)
    assert [value for _, value, _ in window] == [1e14 + n for n in range(10, 21)]


async def test_summary_states_range_mean_ends_and_sources(database: Database) -> None:
    clock = ManualClock(start=START)
    samples = SampleRecorder(database, clock, every_s=0, keep_days=30)
    for n, (value, source) in enumerate([(10.0, "a"), (30.0, "b"), (20.0, "a")]):
        await samples.record({"hashprice": value}, source, START + n)
    summary = await samples.summary("hashprice", START, START + 10)
    assert summary["samples"] == 3 and summary["unit"] == "USD/PH/day"
    assert (summary["min"], summary["max"], summary["mean"]) == (10.0, 30.0, 20.0)
    assert summary["first"] == {"at": datetime.fromtimestamp(START, UTC), "value": 10.0}
    assert summary["last"]["value"] == 20.0 and summary["sources"] == ["a", "b"]
    assert await samples.summary("hashprice", START + 100, START + 200) == {
        "unit": "USD/PH/day",
        "samples": 0,
    }


async def test_prune_drops_only_samples_past_the_retention(database: Database) -> None:
    clock = ManualClock(start=START)
    samples = recorder(database, clock)
    await samples.record({"network_hashrate": 800.0}, "mempool.space", START)
    clock.advance(29 * 86_400)
    await samples.record({"network_hashrate": 810.0}, "mempool.space", clock.time())
    clock.advance(2 * 86_400)  # the first is now 31 days old
    assert await samples.prune() == 1
    assert await samples.count("network_hashrate") == 1
