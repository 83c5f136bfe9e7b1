"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import socket
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend.core.db import run_migrations


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose config and data dirs live under tmp_path (nothing else leaks in).

    Providers on the internet are switched off: tests reach only loopback (demo mode and tests
    that point a provider at its simulator switch them back on). API keys are hashed at a low
    Argon2 cost, and the database starts as a copy of one migrated once per run: both are the
    product's own knobs and paths, they only make each backend start cheaper."""
    seed_migrated_database(tmp_path / "data" / "hashinsight" / "hashinsight.db")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "HASHINSIGHT_MARKET_ENABLED": "false",
        "HASHINSIGHT_KEY_HASH_TIME_COST": "1",
        "HASHINSIGHT_KEY_HASH_MEMORY_KIB": "1024",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def eventually(
    check: Callable[[], Any], within_s: float = 10.0, step_s: float = 0.05, what: str = "condition"
) -> Any:
    """Await until `check()` (sync or async) is truthy and return its value; fail naming `what`
    after `within_s`. Tests wait on conditions, never on wall time: this returns early."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(step_s)


async def wait_for(condition: Callable[[], bool], pilot: object, within_s: float = 20.0) -> None:
    """Let a Textual pilot run until `condition()` holds; fail after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)  # type: ignore[attr-defined]


_template: dict[str, Path] = {}


def seed_migrated_database(path: Path) -> None:
    """Put a copy of an already migrated SQLite database at `path` unless one is there.

    The backend still runs its migrations at start; they find the schema at head and return."""
    if path.exists():
        return
    if "db" not in _template:
        folder = Path(tempfile.mkdtemp(prefix="hashinsight-template-"))
        atexit.register(shutil.rmtree, folder, True)
        url = f"sqlite+aiosqlite:///{folder / 'template.db'}"
        with ThreadPoolExecutor(1) as thread:  # Alembic runs its own loop: never inside ours
            thread.submit(run_migrations, url).result()
        _template["db"] = folder / "template.db"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(_template["db"], path)
