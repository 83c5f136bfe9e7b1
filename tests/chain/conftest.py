"""Fixtures of the chain tests: a running simulator and a service harness on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.sim.markets import MarketSimulator
from tests.market.support import Harness, market_settings, running_sim


@pytest.fixture
async def sim() -> AsyncIterator[MarketSimulator]:
    async for simulator in running_sim():
        yield simulator


@pytest.fixture
async def harness(tmp_path: Path, sim: MarketSimulator) -> AsyncIterator[Harness]:
    instance = Harness(market_settings(tmp_path, sim))
    try:
        yield instance
    finally:
        await instance.aclose()
