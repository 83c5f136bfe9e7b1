"""The initial operator key survives a kill between its creation and its printing.

A process creates it (as `serve` does at start) and is SIGKILLed before printing anything; the
next `hashinsight serve` prints that same key, which works; once printed it is not shown again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from backend.runtime import INITIAL_KEY_NAME, Backend
from backend.settings import load_settings
from tests.helpers import free_port, isolated_env

PREFIX = "Initial operator key (shown once, store it now): "

# Starts a backend exactly as `serve` does, then dies by SIGKILL before anything is printed.
KILLED_AFTER_CREATION = textwrap.dedent(
    """
    import asyncio, os, signal
    from backend.settings import load_settings
    from backend.runtime import Backend

    async def main() -> None:
        backend = Backend(load_settings(overrides={"api_port": 0}), mode="serve")
        await backend.start()
        assert backend.initial_operator_key
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hashinsight_cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait, and the rest of its stdout."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


@pytest.mark.timeout(180)
def test_a_kill_before_printing_shows_the_same_key_on_the_next_start(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], **isolated_env(tmp_path)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_CREATION],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "hsk_" not in killed.stdout + killed.stderr

    port = free_port()
    process = _serve(env, port)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"HashInsight API: http://127.0.0.1:{port}"
        line = process.stdout.readline().strip()
        assert line.startswith(PREFIX), line
        key = line.removeprefix(PREFIX)
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/me",
            headers={"Authorization": f"Bearer {key}"},
            trust_env=False,
            timeout=20,
        )
        assert me.status_code == 200, me.text
        assert me.json()["name"] == INITIAL_KEY_NAME
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    process = _serve(env, free_port())  # shown and confirmed: not printed again
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("HashInsight API: ")
        rest = _stop(process)
        assert "hsk_" not in rest and "operator key" not in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_one_initial_key_offered_until_confirmed(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path), overrides={"api_port": 0})
    first = Backend(settings, mode="serve")
    await first.start()
    key = first.initial_operator_key
    await first.stop()  # never confirmed: as if the process died before printing
    assert key is not None

    second = Backend(settings, mode="serve")
    await second.start()
    try:
        assert second.initial_operator_key == key
        initial = [k for k in await second.auth.list_keys() if k.name == INITIAL_KEY_NAME]
        assert len(initial) == 1  # the same key, not a second one
        await second.initial_key_shown()
    finally:
        await second.stop()

    third = Backend(settings, mode="serve")
    await third.start()
    try:
        assert third.initial_operator_key is None
        assert await third.auth.verify(key) is not None  # still a working key
    finally:
        await third.stop()


async def test_a_revoked_pending_key_is_not_offered(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path), overrides={"api_port": 0})
    first = Backend(settings, mode="serve")
    await first.start()
    try:
        pending = await first.auth.unshown_keys()
        assert [info.name for info, _ in pending] == [INITIAL_KEY_NAME]
        await first.auth.revoke(pending[0][0].key_id)
        assert await first.auth.unshown_keys() == []
    finally:
        await first.stop()
