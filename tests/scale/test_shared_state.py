"""Rate limits, shared caches and key revocation, the same tests in-process and on real Redis.

"memory" is the embedded default (one process); "redis" runs each scenario with two instances
sharing one Redis server, as two API processes would.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from backend.auth import service
from backend.auth.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, Window
from backend.auth.service import AuthService
from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.redis_bridge import RedisBusBridge
from backend.core.secrets import BackendSecrets
from backend.core.shared_state import (
    MemorySharedCache,
    RedisSharedCache,
    RedisStore,
    SharedCache,
)
from tests.helpers import free_port

WINDOWS = (Window("minute", 3, 60), Window("hour", 5, 3600))
KINDS = ["memory", "redis"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def stores(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[list[RedisStore]]:
    """Two stores on one Redis ("redis"), standing for two instances; none for "memory"."""
    if kind == "memory":
        yield []
        return
    url = request.getfixturevalue("redis_url")
    made = [RedisStore(url, HealthRegistry(EventBus()), f"redis-{n}") for n in range(2)]
    try:
        yield made
    finally:
        for store in made:
            await store.close()


def limiters(stores: list[RedisStore], clock: ManualClock) -> tuple[RateLimiter, RateLimiter]:
    """Two instances' limiters: separate counters in memory, one set of counters in Redis."""
    if not stores:
        one = MemoryRateLimiter(clock)
        return one, one  # in-process, both "instances" are the same process
    a, b = (RedisRateLimiter(s, MemoryRateLimiter(clock), clock) for s in stores)
    return a, b


async def test_windows_count_deny_and_reset(stores: list[RedisStore]) -> None:
    clock = ManualClock(start=1_700_000_080.0 + 3600 * (uuid.uuid4().int % 10_000))
    clock.advance(-(clock.time() % 60) + 40)  # 40 s into a minute
    limiter, _ = limiters(stores, clock)
    key = uuid.uuid4().hex
    for n in range(3):
        decision = await limiter.hit(key, WINDOWS)
        assert decision.allowed and decision.binding.remaining == 2 - n
    denied = await limiter.hit(key, WINDOWS)
    assert not denied.allowed and denied.retry_after == 20
    headers = dict(denied.headers())
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["Retry-After"] == "20" and headers["RateLimit"] == '"minute";r=0;t=20'
    assert headers["X-RateLimit-Reset"] == str(int(clock.time()) + 20)
    assert headers["RateLimit-Policy"] == '"minute";q=3;w=60, "hour";q=5;w=3600'
    assert (await limiter.hit(uuid.uuid4().hex, WINDOWS)).allowed  # per key
    clock.advance(20)
    assert (await limiter.hit(key, WINDOWS)).allowed
    assert (await limiter.hit(key, WINDOWS)).allowed
    hourly = await limiter.hit(key, WINDOWS)  # the hour window (5) binds now
    assert not hourly.allowed and hourly.binding.window.name == "hour"
    assert hourly.retry_after > 60
    if stores:
        assert all(store.up for store in stores)


async def test_denied_hits_are_not_counted(stores: list[RedisStore]) -> None:
    clock = ManualClock(start=1_700_000_000.0 + 3600 * (uuid.uuid4().int % 10_000))
    limiter, _ = limiters(stores, clock)
    key, windows = uuid.uuid4().hex, (Window("minute", 1, 60),)
    assert (await limiter.hit(key, windows)).allowed
    for _ in range(10):
        assert not (await limiter.hit(key, windows)).allowed
    clock.advance(60)
    assert (await limiter.hit(key, windows)).allowed


async def test_one_limit_across_instances(stores: list[RedisStore]) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    a, b = limiters(stores, clock)
    key = uuid.uuid4().hex
    windows = (Window("minute", 10, 60),)
    results = await asyncio.gather(*[(a if n % 2 else b).hit(key, windows) for n in range(16)])
    assert sum(r.allowed for r in results) == 10  # atomic: never more than the limit
    assert not (await a.hit(key, windows)).allowed
    assert not (await b.hit(key, windows)).allowed
    assert (await b.hit(uuid.uuid4().hex, windows)).allowed


async def test_redis_down_counts_locally_and_shows_in_health() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    health = HealthRegistry(EventBus())
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", health, "redis-limits", clock=clock)
    limiter = RedisRateLimiter(store, MemoryRateLimiter(clock), clock)
    try:
        windows = (Window("minute", 2, 60),)
        outcomes = [(await limiter.hit("k", windows)).allowed for _ in range(3)]
        assert outcomes == [True, True, False]  # the local limit still holds
        assert limiter.local_hits == 3 and not store.up
        assert store.failures == 1  # one failed call, then the back-off answers at once
        item = health.get("redis-limits")
        assert item is not None and item.status in ("degraded", "down")
        assert item.last_error and "local fallback" in item.last_error
        assert not await store.ping()
    finally:
        await store.close()


async def test_store_recovers_when_redis_comes_back(tmp_path: Path) -> None:
    from tests.servers import redis_server

    try:
        server = redis_server()
        url = server.__enter__()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    clock = ManualClock()
    health = HealthRegistry(EventBus())
    store = RedisStore(url, health, "redis-limits", clock=clock)
    cache = RedisSharedCache(store, "test", clock)
    try:
        await cache.set("price", {"usd": 1.0}, 60)
        assert await cache.get("price") == {"usd": 1.0} and store.up
        server.__exit__(None, None, None)
        server = None
        assert await cache.get("price") == {"usd": 1.0}  # this process's own copy
        assert not store.up
        await cache.set("price", {"usd": 2.0}, 60)  # refused at once during the back-off
        assert await cache.get("price") == {"usd": 2.0}
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        await store.close()


@pytest.fixture
def caches(stores: list[RedisStore]) -> tuple[SharedCache, SharedCache]:
    clock = ManualClock()
    if not stores:
        one = MemorySharedCache(clock)
        return one, one
    namespace = uuid.uuid4().hex
    return RedisSharedCache(stores[0], namespace), RedisSharedCache(stores[1], namespace)


async def test_last_good_value_is_shared_with_a_ttl(
    caches: tuple[SharedCache, SharedCache], kind: str
) -> None:
    a, b = caches
    await a.set("price", {"source": "coingecko", "usd": 64_000.5}, 60)
    assert await b.get("price") == {"source": "coingecko", "usd": 64_000.5}
    assert await b.get("other") is None
    await b.set("short", [1, 2], 0.05)
    if kind == "redis":  # a real TTL in Redis: wait for it (returns early)
        await _eventually(lambda: _is_none(a.get("short")), within_s=10)
    else:
        assert await a.get("short") == [1, 2]


async def _is_none(value: Awaitable[object]) -> bool:
    return await value is None


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------ key revocation


@pytest.fixture
async def key_instances(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[AuthService, AuthService]]:
    """Two AuthServices on one database, their buses joined by Redis ("redis") or one bus."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await db.upgrade()
    secrets = BackendSecrets(
        pepper=b"p" * 32,
        fernet=Fernet(Fernet.generate_key()),
        hasher=PasswordHasher(time_cost=1, memory_cost=8_192),
    )
    clock = ManualClock()  # frozen: a cache entry can only go because it was invalidated
    bridges: list[RedisBusBridge] = []
    if kind == "memory":
        bus = EventBus()
        buses = [bus, bus]
    else:
        url = request.getfixturevalue("redis_url")
        channel = f"hashinsight:test:{uuid.uuid4().hex}"
        buses = [EventBus(), EventBus()]
        bridges = [RedisBusBridge(bus, url, channel=channel) for bus in buses]
        for bridge in bridges:
            await bridge.start()
    try:
        a, b = (AuthService(db, secrets, clock=clock, bus=bus) for bus in buses)
        yield a, b
    finally:
        for bridge in bridges:
            await bridge.stop()
        await db.close()


async def test_key_revoked_on_one_instance_is_refused_by_the_other_at_once(
    key_instances: tuple[AuthService, AuthService],
) -> None:
    a, b = key_instances
    info, key = await a.create_key(name="partner", scopes="read")
    _other, other_key = await a.create_key(name="other", scopes="read")
    assert await a.verify(key) and await b.verify(key) and await b.verify(other_key)
    assert len(b._good) == 2  # both cached on B; the clock never moves, so no TTL expiry
    assert await a.revoke(info.key_id)
    assert await a.verify(key) is None
    await _eventually(lambda: _is_none(b.verify(key)), within_s=10)
    assert await b.verify(other_key) is not None  # only that key


async def test_suspend_and_resume_reach_every_instance(
    key_instances: tuple[AuthService, AuthService],
) -> None:
    a, b = key_instances
    info, key = await a.create_key(name="mode", scopes="read")
    first = await b.verify(key)
    assert first is not None and first.mode == "auto"
    await a.update(info.key_id, mode="semi_auto")

    async def b_sees_semi_auto() -> bool:
        seen = await b.verify(key)
        return seen is not None and seen.mode == "semi_auto"

    await _eventually(b_sees_semi_auto, within_s=10)


async def test_a_check_racing_a_revocation_caches_nothing(
    key_instances: tuple[AuthService, AuthService], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = key_instances
    info, key = await a.create_key(name="race", scopes="read")
    entered, release = threading.Event(), threading.Event()
    original = service.verify_key_hash

    def held(*args: Any) -> bool:
        entered.set()
        release.wait(30)
        return original(*args)

    monkeypatch.setattr(service, "verify_key_hash", held)
    check = asyncio.ensure_future(a.verify(key))
    # the check has read the row and is hashing
    assert await asyncio.to_thread(entered.wait, 30)
    a.forget(info.key_id)  # a change lands meanwhile
    release.set()
    assert await check is not None  # answered from what it read...
    assert len(a._good) == 0  # ...but not cached: the next request reads the row again


# ------------------------------------------------------------------------ provider last values


async def test_an_instance_whose_providers_fail_serves_the_value_another_accepted(
    caches: tuple[SharedCache, SharedCache],
) -> None:
    from backend.core.http import ProviderError
    from backend.market.models import PriceQuote
    from backend.providers.fallback import FallbackChain, Source

    clock = ManualClock()

    async def live() -> tuple[PriceQuote, float]:
        return PriceQuote(64_000.0, 1.5, 2e10), clock.time()

    async def down() -> tuple[PriceQuote, float]:
        raise ProviderError("coingecko: connection refused")

    def chain(fetch: Callable[[], Awaitable[tuple[PriceQuote, float]]], cache: SharedCache) -> Any:
        source = Source("coingecko", fetch, lambda _reason: None)
        decode = lambda data: PriceQuote(**data)  # noqa: E731
        return FallbackChain("price", [source], clock, shared=cache, decode=decode)

    a, b = chain(live, caches[0]), chain(down, caches[1])
    assert (await a.fetch()).via == "live"
    result = await b.fetch()
    assert result.via == "cache" and result.reading is not None
    assert result.reading.value == PriceQuote(64_000.0, 1.5, 2e10)
    assert result.reading.source == "coingecko" and result.reading.as_of == clock.time()
