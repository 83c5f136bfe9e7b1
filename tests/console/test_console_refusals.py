"""`hashinsight console` refuses, with one plain line and exit status 2, what it would otherwise
ignore or hang on: a console URL that is malformed or where nothing answers (never a silent
fall-back to another backend), standard input that is not a terminal, and keymap mistakes."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, isolated_env

EXIT_USAGE = 2


def cli(
    tmp_path: Path, *args: str, config: str = "", tty: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in an isolated home; with `tty`, its stdin and stdout are a pseudo-terminal."""
    environ = {"PATH": os.environ["PATH"], **isolated_env(tmp_path), **env}
    if config:
        folder = tmp_path / "config" / "hashinsight"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(config)
    command = [sys.executable, "-m", "hashinsight_cli", *args]
    if not tty:
        return subprocess.run(
            command,
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    leader, follower = pty.openpty()
    try:
        return subprocess.run(
            command,
            env=environ,
            stdin=follower,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_console_without_a_terminal_exits_at_once(tmp_path: Path) -> None:
    result = cli(tmp_path, "console")
    assert result.returncode == EXIT_USAGE
    assert "not a terminal" in one_line(result)


def test_demo_without_a_terminal_exits_at_once(tmp_path: Path) -> None:
    result = cli(tmp_path, "demo")
    assert result.returncode == EXIT_USAGE
    assert "not a terminal" in one_line(result)


def test_malformed_console_url_in_the_config_is_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "console", config='[console]\nurl = "htp:/x"\n')
    assert result.returncode == EXIT_USAGE
    line = one_line(result)
    assert "console.url" in line and "htp:/x" in line and "config.toml" in line


def test_malformed_console_url_in_the_environment_is_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "console", HASHINSIGHT_CONSOLE__URL="htp:/x")
    assert result.returncode == EXIT_USAGE
    assert "env HASHINSIGHT_CONSOLE__URL" in one_line(result)


def test_malformed_url_option_is_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "console", "--url", "htp:/x", tty=True)
    assert result.returncode == EXIT_USAGE
    assert "--url" in one_line(result)


@pytest.mark.parametrize("where", ["config", "env"])
def test_a_named_backend_that_does_not_answer_is_not_replaced(tmp_path: Path, where: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    if where == "config":
        result = cli(tmp_path, "console", config=f'[console]\nurl = "{url}"\n', tty=True)
    else:
        result = cli(tmp_path, "console", tty=True, HASHINSIGHT_CONSOLE__URL=url)
    assert result.returncode == EXIT_USAGE
    line = one_line(result)
    assert f"no HashInsight backend answers at {url}" in line and "console.url" in line


def test_keymap_with_an_unknown_action_is_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "console", config='[console.keymap]\n"app.paus" = "P"\n')
    assert result.returncode == EXIT_USAGE
    line = one_line(result)
    assert "console.keymap.app.paus" in line and "'app.pause'" in line and "config.toml" in line


def test_keymap_stealing_a_key_is_refused(tmp_path: Path) -> None:
    result = cli(tmp_path, "console", config='[console.keymap]\n"screen.fleet" = "p"\n')
    assert result.returncode == EXIT_USAGE
    assert "p is already app.pause" in one_line(result)


def test_keymap_checks() -> None:
    from hashinsight_tui.app import keymap_problems

    assert keymap_problems({"app.pause": "P", "screen.fleet": "F"}, "x") == []
    assert keymap_problems({"app.help": "?"}, "x") == []  # its own default key, written as `?`
    assert keymap_problems({"app.pause": "P", "fleet.restart": "p"}, "x") == []  # a swap
    (stolen,) = keymap_problems({"keys.revoke": "x"}, "x")
    assert "keys.delete_partner" in stolen and "API Keys" in stolen
    (moving,) = keymap_problems({"app.pause": "down"}, "x")
    assert "moves around" in moving
