"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose config and data dirs live under tmp_path (nothing else leaks in).

    Providers on the internet are switched off: tests reach only loopback (demo mode and tests
    that point a provider at its simulator switch them back on)."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "HASHINSIGHT_MARKET_ENABLED": "false",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for(condition: Callable[[], bool], pilot: object, within_s: float = 10.0) -> None:
    """Let a Textual pilot run until `condition()` holds; fail after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)  # type: ignore[attr-defined]
