"""`hashinsight serve` in a subprocess; a console attaches via the token file; both stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.core.secrets import operator_token_path, read_operator_token
from backend.settings import load_settings
from hashinsight_tui.app import HashInsightApp
from hashinsight_tui.launcher import console_options, resolve_target
from tests.helpers import free_port, isolated_env, wait_for


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hashinsight_cli", "serve", "--port", str(port)],
        env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_first_lines(process: subprocess.Popen[str], count: int, timeout: float = 60) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
    return lines


@pytest.mark.timeout(120)
async def test_console_attaches_to_serve_and_both_stop_cleanly(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    port = free_port()
    process = start_serve(env, port)
    try:
        lines = read_first_lines(process, 2)
        assert lines[0] == f"HashInsight API: http://127.0.0.1:{port}", lines
        assert lines[1].startswith("Initial operator key (shown once")
        settings = load_settings(env)
        token = read_operator_token(settings)
        assert token is not None and token["url"] == f"http://127.0.0.1:{port}"
        assert operator_token_path(settings).stat().st_mode & 0o777 == 0o600

        target = resolve_target(settings, None)
        assert target.embedded is None  # attached, not embedded
        app = HashInsightApp(console_options(settings, target))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(lambda: app.store.state == "connected", pilot)
            await wait_for(lambda: "database" in app.store.integrations, pilot)
            assert app.store.health is not None and app.store.health.mode == "serve"

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            assert code == 0, process.stderr.read() if process.stderr else ""
            assert time.monotonic() - started < 10
            await wait_for(lambda: app.store.state == "reconnecting", pilot)
        assert not operator_token_path(settings).exists()  # the token left with its backend
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_second_serve_on_a_busy_port_fails_clearly(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    port = free_port()
    first = start_serve(env, port)
    try:
        assert read_first_lines(first, 1)[0].startswith("HashInsight API")
        second = start_serve(isolated_env(tmp_path / "other"), port)
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in err
        assert "Traceback" not in err, err
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=30) == 0


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], **isolated_env(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hashinsight_cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = cli("keys", "create", "--name", "acme", "--owner", "partner", "--scopes", "read")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("key id:")[1].split()[0]
    full_key = created.stdout.split("(shown once):")[1].strip()
    assert full_key.startswith(f"hsk_{key_id}_")
    listed = cli("keys", "list")
    assert key_id in listed.stdout and "acme" in listed.stdout
    assert full_key not in listed.stdout
    assert cli("keys", "revoke", key_id).returncode == 0
    assert key_id not in cli("keys", "list").stdout
    assert "(revoked)" in cli("keys", "list", "--all").stdout
    bad = cli("keys", "create", "--name", "x", "--scopes", "read,fly")
    assert bad.returncode == 2 and "unknown scope 'fly'" in bad.stderr
