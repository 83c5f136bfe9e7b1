"""Shared fixtures: isolated settings, a backend on a loopback port, keys with given scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backend.core.settings import Settings, load_settings
from backend.runtime import Backend, BackendThread
from tests.helpers import isolated_env


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No network but loopback: providers that would call the internet are off unless a test
    # points them at a simulator.
    return load_settings(
        isolated_env(tmp_path),
        overrides={
            "api_port": 0,
            "health_check_interval_s": 1.0,
            "ws_heartbeat_s": 2.0,
            "market_enabled": False,
        },
    )


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    instance = Backend(settings, mode="serve")
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def backend_thread(settings: Settings) -> Iterator[BackendThread]:
    """The demo world's backend in its own thread and loop, as the console embeds it.

    Demo mode points every provider at its loopback simulator, so they may all run."""
    thread = BackendThread(settings.model_copy(update={"market_enabled": True}), mode="demo")
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def operator_key(backend: Backend) -> str:
    assert backend.initial_operator_key is not None
    return backend.initial_operator_key
