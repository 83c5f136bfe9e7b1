"""Whole backends in this process, sharing one PostgreSQL and one Redis: the instances of a
multi-process deployment, minus the processes (for tests that need to look inside them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from backend.fleet.shard import FleetRole
from backend.runtime import Backend, Mode
from backend.settings import load_settings
from tests.helpers import isolated_env

QUIET: dict[str, Any] = {  # nothing polls unless a test switches it on
    "api_port": 0,
    "market_enabled": False,
    "fleet_enabled": False,
    "notary_enabled": False,
    "issuer_enabled": False,
}


def shared_settings(database_url: str, redis_url: str | None) -> dict[str, Any]:
    """What every instance of one deployment has in common (secrets must match)."""
    return {
        **QUIET,
        "database_url": database_url,
        "redis_url": redis_url,
        "pepper": "p" * 32,
        "fernet_key": Fernet.generate_key().decode(),
    }


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    shared: dict[str, Any],
    *instances: tuple[str, Mode, FleetRole | None, dict[str, Any]],
) -> AsyncIterator[list[Backend]]:
    """Start each (name, mode, fleet role, overrides) in order; stop them all at the end."""
    backends: list[Backend] = []
    try:
        for name, mode, role, overrides in instances:
            env = await asyncio.to_thread(isolated_env, tmp_path / name)
            settings = load_settings(env, overrides={**shared, **overrides})
            backend = Backend(settings, mode=mode, fleet_role=role)
            backends.append(backend)
            await backend.start()
        yield backends
    finally:
        for backend in reversed(backends):
            if hasattr(backend, "db"):
                await backend.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
