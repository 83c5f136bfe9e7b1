"""Helpers shared by the market and chain tests: fixtures location, a simulator, a service context.

Providers are real HTTP clients (the backend's `HttpClientFactory`) talking to the loopback
simulators; nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from backend.core.bus import EventBus
from backend.core.clock import Clock, ManualClock
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.core.service import ServiceContext
from backend.runtime import BackendThread
from backend.settings import Settings, load_settings
from backend.sim.markets import MarketSimulator
from tests.helpers import seed_migrated_database

T = TypeVar("T")

MARKET_FIXTURES = Path(__file__).resolve().parents[1] / "data" / "captures" / "markets"


def fixture_json(name: str) -> Any:
    return json.loads((MARKET_FIXTURES / name).read_text())


def fixture_text(name: str) -> str:
    return (MARKET_FIXTURES / name).read_text()


def market_settings(tmp_path: Path, sim: MarketSimulator, **extra: Any) -> Settings:
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    overrides: dict[str, Any] = {
        **sim.settings_overrides(),
        "exchange_timeout_s": 0.5,
        "http_timeout_s": 0.5,
        "price_poll_s": 0.2,
        "exchanges_poll_s": 0.2,
        "network_poll_s": 0.2,
        "blocks_poll_s": 0.2,
        "fallback_probe_s": 3600.0,
        **extra,
    }
    return load_settings(env, overrides=overrides)


class Harness:
    """A `ServiceContext` on a fresh migrated SQLite file (market and chain record samples)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        seed_migrated_database(settings.data_dir / "hashinsight.db")
        self.db = Database(settings.effective_database_url)
        self.clock = clock or ManualClock(start=time.time())
        self.bus = EventBus()
        self.health = HealthRegistry(self.bus, self.clock)
        self.http = HttpClientFactory(
            self.health,
            timeout_s=settings.http_timeout_s,
            retries=0,
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_s=settings.breaker_cooldown_s,
            clock=self.clock,
            backoff_base_s=0.01,
        )
        self.context = ServiceContext(
            settings=settings,
            db=self.db,
            bus=self.bus,
            health=self.health,
            http=self.http,
            clock=self.clock,
        )

    def integration(self, name: str) -> dict[str, Any]:
        item = self.health.get(name)
        assert item is not None, f"{name} is not registered with health"
        return item.out().model_dump()

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.db.close()


async def running_sim(seed: int = 7, **kwargs: Any) -> AsyncIterator[MarketSimulator]:
    sim = MarketSimulator(seed=seed, demo_intervals=False, **kwargs)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


class SimThread:
    """The market simulators on their own event loop in a thread, for tests whose backend runs in
    another thread: blocking calls from the test never stall the simulated providers."""

    def __init__(self, seed: int = 7) -> None:
        self.sim = MarketSimulator(seed=seed, demo_intervals=False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> MarketSimulator:
        self._thread = threading.Thread(target=self._main, name="market-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("market simulators did not start")
        return self.sim

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self.sim.start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.sim.stop())
        loop.close()

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the simulators' loop (state changes stay on their thread)."""
        assert self._loop is not None

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@contextlib.contextmanager
def console_backend(tmp_path: Path) -> Iterator[tuple[BackendThread, MarketSimulator, SimThread]]:
    """A real backend (own thread and loop, as the console embeds it) on the market simulators."""
    sims = SimThread()
    sim = sims.start()
    settings = market_settings(
        tmp_path,
        sim,
        api_port=0,
        health_check_interval_s=3600.0,
        price_poll_s=1.0,
        exchanges_poll_s=1.0,
        network_poll_s=1.0,
        blocks_poll_s=1.0,
    )
    thread = BackendThread(settings, mode="serve")
    try:
        thread.start()
        yield thread, sim, sims
    finally:
        thread.stop()
        sims.stop()


@contextlib.asynccontextmanager
async def console(app: Any, size: tuple[int, int]) -> AsyncIterator[Any]:
    """`app.run_test`, stopping the app's data workers before it exits: the app renders on every
    streamed batch and would otherwise render while its screens are being torn down."""
    async with app.run_test(size=size) as pilot:
        try:
            yield pilot
        finally:
            for group in ("connection", "snapshots"):
                app.workers.cancel_group(app, group)
            await pilot.pause(0.3)
