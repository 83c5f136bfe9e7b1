"""Settings: defaults, TOML, env, legacy names, and one clear line for every bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.settings import SettingsError, ensure_dirs, load_settings
from tests.helpers import isolated_env


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "hashinsight" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_follow_xdg_dirs(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path))
    assert settings.config_dir == tmp_path / "config" / "hashinsight"
    assert settings.data_dir == tmp_path / "data" / "hashinsight"
    assert settings.api_host == "127.0.0.1" and settings.api_port == 8765
    assert settings.effective_database_url.endswith("/data/hashinsight/hashinsight.db")


def test_toml_then_env_then_legacy_names(tmp_path: Path) -> None:
    write_config(tmp_path, 'api_port = 9000\n[console]\ntheme = "nord"\n')
    env = isolated_env(
        tmp_path,
        HASHINSIGHT_API_HOST="0.0.0.0",
        HASHINSIGHT_CONSOLE__REFRESH_S="2.5",
        DATABASE_URL="postgres://u:pw@db.local/hi",
        COINGECKO_API_KEY="cg-secret",
    )
    settings = load_settings(env)
    assert settings.api_port == 9000
    assert settings.api_host == "0.0.0.0"
    assert settings.console.theme == "nord"
    assert settings.console.refresh_s == 2.5
    assert settings.effective_database_url == "postgresql+asyncpg://u:pw@db.local/hi"
    assert settings.coingecko_api_key is not None
    assert settings.coingecko_api_key.get_secret_value() == "cg-secret"


def test_bad_env_value_names_key_and_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(isolated_env(tmp_path, HASHINSIGHT_API_PORT="eighty"))
    message = str(err.value)
    assert "\n" not in message
    assert "api_port" in message and "env HASHINSIGHT_API_PORT" in message
    assert "'eighty'" in message


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "api_port = [unclosed\n")
    with pytest.raises(SettingsError) as err:
        load_settings(isolated_env(tmp_path))
    assert str(path) in str(err.value) and "not valid TOML" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_and_out_of_range_toml_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, "api_prot = 1\n")
    with pytest.raises(SettingsError, match=r"api_prot .*unknown setting"):
        load_settings(isolated_env(tmp_path))
    path.write_text("[console]\nrefresh_s = 0\n")
    with pytest.raises(SettingsError, match=rf"console.refresh_s = '0' \(from {path}\)"):
        load_settings(isolated_env(tmp_path))


def test_secret_values_never_echoed_in_errors(tmp_path: Path) -> None:
    write_config(tmp_path, "[console]\napi_key = 12345\n")
    with pytest.raises(SettingsError) as err:
        load_settings(isolated_env(tmp_path))
    assert "12345" not in str(err.value)


def test_missing_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    settings = load_settings(isolated_env(tmp_path, HASHINSIGHT_DATA_DIR=str(blocker / "sub")))
    with pytest.raises(SettingsError, match=r"data dir .*/file/sub cannot be created"):
        ensure_dirs(settings)


def test_masked_settings_hide_secrets(tmp_path: Path) -> None:
    env = isolated_env(
        tmp_path, PINATA_JWT="jwt-value", DATABASE_URL="postgresql://app:hunter2@db/hi"
    )
    masked = load_settings(env).masked()
    text = repr(masked)
    assert "jwt-value" not in text and "hunter2" not in text
    assert masked["pinata_jwt"] == "********"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ["PATH"], **isolated_env(tmp_path, **env)}
    return subprocess.run(
        [sys.executable, "-m", "hashinsight_cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_bad_setting_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", HASHINSIGHT_API_PORT="99999")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "api_port" in lines[0] and "HASHINSIGHT_API_PORT" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_config_show_masks_secrets(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", GMAIL_PASSWORD="pa55word", SESSION_SECRET="s3")
    assert result.returncode == 0, result.stderr
    assert "pa55word" not in result.stdout and '"s3"' not in result.stdout
    assert '"gmail_password": "********"' in result.stdout


def test_cli_help_lists_subcommands(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--help")
    for name in ("demo", "serve", "console", "config", "db", "keys", "screenshots", "sim"):
        assert name in result.stdout
    serve = run_cli(tmp_path, "serve", "--help")
    assert "--host" in serve.stdout and "--port" in serve.stdout


def test_cli_unreadable_database_is_one_line(tmp_path: Path) -> None:
    bad_db = tmp_path / "not-a-db.sqlite"
    bad_db.write_bytes(b"this is not a sqlite file at all" * 100)
    result = run_cli(tmp_path, "db", "upgrade", DATABASE_URL=f"sqlite:///{bad_db}")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "database migration failed" in result.stderr and "Traceback" not in result.stderr


def test_cli_secret_file_too_open_is_refused(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "data" / "hashinsight" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "pepper").write_text("x" * 64)
    (secrets_dir / "pepper").chmod(0o644)
    result = run_cli(tmp_path, "keys", "list")
    assert result.returncode == 2
    assert "too open" in result.stderr and "chmod 600" in result.stderr
    assert "x" * 20 not in result.stderr


def test_every_feature_settings_block_is_composed(tmp_path: Path) -> None:
    """A block is composed because its feature's registry line names it: a block left out
    would make its own keys 'unknown' in config.toml and the environment."""
    import importlib
    import inspect
    import pkgutil

    import backend
    from backend.core.settings import CoreSettings
    from backend.settings import Settings

    blocks = []
    for package in pkgutil.iter_modules(backend.__path__):
        if not package.ispkg or package.name == "core":
            continue
        try:
            module = importlib.import_module(f"backend.{package.name}.settings")
        except ModuleNotFoundError:
            continue
        blocks += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, CoreSettings) and cls.__module__ == module.__name__
        ]
    assert {cls.__name__ for cls in blocks} >= {"FleetSettings", "MarketSettings", "AuthSettings"}
    assert [cls.__name__ for cls in blocks if not issubclass(Settings, cls)] == []
    # and the keys of one are settings like any other
    settings = load_settings(isolated_env(tmp_path), {"fleet_poll_interval_s": 7})
    assert settings.fleet_poll_interval_s == 7
