"""One process polls the market and chain providers and records samples (the `market` lease);
every other instance serves the holder's values from Redis, and another process takes over when
the holder dies. Without Redis every process polls for itself, as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.chain.service import ChainService
from backend.fleet.shard import FleetRole, parse_shard
from backend.market.service import MarketService
from backend.providers.leader import HEALTH_NAME
from backend.providers.polling import cancel_all
from backend.providers.samples import MarketSampleRow
from backend.runtime import Backend
from backend.sim.markets import MarketSimulator
from tests.helpers import eventually
from tests.scale.instances import bearer, running, shared_settings

PROVIDERS = ("coingecko", "blockchain_info", "mempool", "okx", "binance", "deribit", "bybit")


@pytest.fixture
async def market_sim() -> AsyncIterator[dict[str, Any]]:
    sim = MarketSimulator(seed=7, demo_intervals=False)
    await sim.start()
    try:
        yield {
            **sim.settings_overrides(),
            "price_poll_s": 0.5,
            "exchanges_poll_s": 0.5,
            "network_poll_s": 0.5,
            "blocks_poll_s": 0.5,
            "market_record_s": 0,  # record every fresh value: a second recorder would show
            "market_lease_ttl_s": 2,
        }
    finally:
        await sim.stop()


def market(backend: Backend) -> MarketService:
    service = backend.services_by_name["market"]
    assert isinstance(service, MarketService)
    return service


def chain(backend: Backend) -> ChainService:
    service = backend.services_by_name["chain"]
    assert isinstance(service, ChainService)
    return service


def provider_calls(backend: Backend) -> int:
    return sum(item.checks for name in PROVIDERS if (item := backend.health.get(name)))


def holders(backends: list[Backend]) -> list[Backend]:
    return [b for b in backends if market(b).leader.polls]


def provider_detail(backend: Backend) -> set[str | None]:
    """The details of the provider items that are polled somewhere (not switched off)."""
    items = [backend.health.get(name) for name in PROVIDERS]
    return {item.detail for item in items if item is not None and item.status != "disabled"}


def lease_detail(backend: Backend) -> str | None:
    item = backend.health.get(HEALTH_NAME)
    return item.detail if item is not None else None


async def test_one_process_polls_the_others_follow_and_one_takes_over(
    tmp_path: Path, pg_database: str, redis_url: str, market_sim: dict[str, Any]
) -> None:
    shared = {**shared_settings(pg_database, redis_url), **market_sim}
    async with running(
        tmp_path,
        shared,
        ("c1", "collector", FleetRole(shard=parse_shard("1/2")), {}),
        ("c2", "collector", FleetRole(shard=parse_shard("2/2")), {}),
        ("api", "serve", FleetRole(collect=False), {}),
    ) as backends:
        first, api = backends[0], backends[2]
        assert holders(backends) == [first]  # the first to start took the lease
        key = api.initial_operator_key
        assert key is not None
        async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=10) as client:

            async def followed() -> bool:
                price = await client.get("/api/v1/prices/current", headers=bearer(key))
                network = await client.get("/api/v1/network/stats", headers=bearer(key))
                venues = await client.get("/api/v1/exchanges", headers=bearer(key))
                if {price.status_code, network.status_code, venues.status_code} != {200}:
                    return False
                ok = [v for v in venues.json()["venues"] if v["status"] == "ok"]
                return (
                    price.json()["via"] == "live"
                    and price.json()["source"] == "coingecko"
                    and network.json()["hashprice_usd_per_th_day"] is not None
                    and len(ok) == len(venues.json()["venues"])
                )

            await eventually(followed, 30, what="the API instance serves the holder's live values")
        await eventually(lambda: provider_calls(first) > 10, 30, what="the holder polls")
        # The API instance publishes no tick of its own: the holder's reach it through Redis.
        await eventually(lambda: "prices" in api.bus.last_by_channel, 30, what="the holder's ticks")
        await eventually(
            lambda: lease_detail(api) == f"polled by {first_holder(first)}", 30, what="health"
        )
        # A follower's provider items say who polls them rather than a bare "unknown".
        polled_by = f"not polled here: polled by {first_holder(first)}"
        await eventually(lambda: provider_detail(api) == {polled_by}, 30, what="followed items")
        statuses = {item.status for name in PROVIDERS if (item := api.health.get(name))}
        assert statuses <= {"unknown", "disabled"} and "unknown" in statuses
        for follower in backends[1:]:
            assert provider_calls(follower) == 0
            assert not market(follower).recorder._last_written
            assert not chain(follower).recorder._last_written
        async with api.db.session() as session:
            count = await session.scalar(
                select(func.count()).where(MarketSampleRow.metric == "btc_price")
            )
        assert count and count > 0

        # The holder dies without a word: its lease expires and another process takes over.
        await cancel_all(market(first)._tasks)
        await cancel_all(chain(first)._tasks)
        leader_task = market(first).leader._task
        assert leader_task is not None
        await cancel_all([leader_task])
        successor = await eventually(
            lambda: next(iter(holders(backends[1:])), None),
            30,
            what="another process takes the lease",
        )
        await eventually(lambda: provider_calls(successor) > 0, 30, what="the successor polls")
        others = [b for b in backends[1:] if b is not successor]
        for other in others:
            await eventually(
                lambda o=other: lease_detail(o) == f"polled by {first_holder(successor)}",
                30,
                what="health names the new holder",
            )
        assert lease_detail(successor) == f"polled here ({first_holder(successor)})"
        moved = f"not polled here: polled by {first_holder(successor)}"
        for other in others:
            await eventually(lambda o=other: provider_detail(o) == {moved}, 30, what="followed")
        assert len(holders(backends[1:])) == 1


def first_holder(backend: Backend) -> str:
    lease = market(backend).leader.lease
    assert lease is not None
    return lease.holder


async def test_without_redis_every_process_polls_for_itself(
    tmp_path: Path, pg_database: str, market_sim: dict[str, Any]
) -> None:
    shared = {**shared_settings(pg_database, None), **market_sim}
    async with running(
        tmp_path,
        shared,
        ("c1", "collector", FleetRole(shard=parse_shard("1/2")), {}),
        ("c2", "collector", FleetRole(shard=parse_shard("2/2")), {}),
    ) as backends:
        for backend in backends:
            assert not market(backend).leader.shared
            assert backend.health.get(HEALTH_NAME) is None
        for backend in backends:
            await eventually(lambda b=backend: provider_calls(b) > 0, 30, what="each process polls")
