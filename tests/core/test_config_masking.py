"""`hashinsight config show` masks every URL setting down to scheme and host, not a chosen few.

Provider keys live in URL paths and queries (Alchemy, Infura, QuickNode…) and in userinfo, so each
URL shows as `scheme://host[:port]/…`. The URL settings are found from the settings model itself
(name or default), so a URL setting added later is covered by this test without editing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.core.settings import ConsoleSettings, mask_url
from backend.settings import Settings, SettingsError, load_settings
from tests.helpers import isolated_env

SECRET = "k3yS3cr3tZ"


def _url_fields() -> dict[str, str]:
    """Environment name → setting name of every URL setting (top level and console)."""
    found: dict[str, str] = {}
    for prefix, model in (("HASHINSIGHT_", Settings), ("HASHINSIGHT_CONSOLE__", ConsoleSettings)):
        for name, field in model.model_fields.items():
            default = field.default if isinstance(field.default, str) else ""
            if name.endswith(("_url", "_rpc")) or name == "url" or "://" in default:
                found[prefix + name.upper()] = name
    return found


def _secret_urls(tmp_path: Path) -> dict[str, str]:
    """A provider-style URL with a key for each URL setting, in the richest form it accepts."""
    env: dict[str, str] = {}
    for index, var in enumerate(_url_fields()):
        host = f"svc{index}.example.com"
        for candidate in (
            f"https://user:{SECRET}@{host}:8443/v2/{SECRET}?apikey={SECRET}",
            f"https://{host}:8443/v2/{SECRET}",
        ):
            try:
                load_settings(isolated_env(tmp_path / var, **{var: candidate}))
            except SettingsError:
                continue
            env[var] = candidate
            break
        else:
            pytest.fail(f"{var} accepts no URL")
    return env


def test_every_url_setting_is_found() -> None:
    names = set(_url_fields().values())
    assert {"base_l2_rpc", "ipapi_url", "database_url", "redis_url", "public_url"} <= names
    assert {"coingecko_url", "bitcoin_rpc_url", "pinata_url", "url"} <= names


def test_config_show_prints_no_url_secret(tmp_path: Path) -> None:
    env = _secret_urls(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "hashinsight_cli", "config", "show"],
        env={"PATH": os.environ["PATH"], **isolated_env(tmp_path, **env)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["base_l2_rpc"].startswith("https://svc") and shown["base_l2_rpc"].endswith("/…")
    assert shown["bitcoin_rpc_url"] == "********"  # a SecretStr stays fully masked
    for var, name in _url_fields().items():
        value = shown["console"][name] if var.startswith("HASHINSIGHT_CONSOLE__") else shown[name]
        if value != "********":
            assert value.split("://")[1].startswith("svc"), (name, value)


def test_masked_cuts_urls_to_scheme_and_host(tmp_path: Path) -> None:
    settings = load_settings(
        isolated_env(
            tmp_path,
            BASE_L2_RPC=f"https://base-mainnet.g.alchemy.com/v2/{SECRET}",
            HASHINSIGHT_IPAPI_URL=f"https://pro.ip-api.com/json?key={SECRET}",
            REDIS_URL=f"redis://:{SECRET}@[::1]:6379/0",
            HASHINSIGHT_NDAU_NODE_URL="https://mainnet-0.ndau.tech:3030",
        )
    )
    masked = settings.masked()
    assert SECRET not in repr(masked)
    assert masked["base_l2_rpc"] == "https://base-mainnet.g.alchemy.com/…"
    assert masked["ipapi_url"] == "https://pro.ip-api.com/…"
    assert masked["redis_url"] == "redis://[::1]:6379/…"
    assert masked["ndau_node_url"] == "https://mainnet-0.ndau.tech:3030"  # nothing to hide
    assert masked["miners"] == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://ip-api.com/", "http://ip-api.com"),
        ("postgresql://app:pw@db:5432/hi", "postgresql://db:5432/…"),
        ("stratum+tcp://acct.w1:x@pool.example:3333", "stratum+tcp://pool.example:3333/…"),
        ("sqlite:////var/lib/hashinsight/h.db", "sqlite:////var/lib/hashinsight/h.db"),
        ("10.0.1.0/24", "10.0.1.0/24"),
        ("textual-dark", "textual-dark"),
    ],
)
def test_mask_url(text: str, shown: str) -> None:
    assert mask_url(text) == shown
