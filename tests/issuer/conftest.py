"""Fixtures of the issuer tests: the simulators and the core HTTP factory, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backend.core.bus import EventBus
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import NdauNodeSimulator


@pytest.fixture
async def bitmart_sim() -> AsyncIterator[BitmartSimulator]:
    sim = BitmartSimulator()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
        sim.cleanup()


@pytest.fixture
async def ndau_sim() -> AsyncIterator[NdauNodeSimulator]:
    sim = NdauNodeSimulator()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
def health() -> HealthRegistry:
    return HealthRegistry(EventBus())


@pytest.fixture
async def http(health: HealthRegistry) -> AsyncIterator[HttpClientFactory]:
    factory = HttpClientFactory(health, timeout_s=5.0, retries=1, backoff_base_s=0.01)
    try:
        yield factory
    finally:
        await factory.aclose()
