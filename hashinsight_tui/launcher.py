"""Decide what the console talks to: a backend that answers, or one we embed in our own thread."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.core.secrets import read_operator_token
from backend.core.settings import Settings, SettingsError
from backend.runtime import BackendThread
from hashinsight_tui.app import ConsoleOptions


@dataclass
class Target:
    url: str
    api_key: str
    embedded: BackendThread | None = None


def backend_answers(url: str, timeout_s: float = 1.5) -> bool:
    try:
        response = httpx.get(url.rstrip("/") + "/healthz", timeout=timeout_s, trust_env=False)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def resolve_target(settings: Settings, url: str | None) -> Target:
    """Attach to a running backend, or else start an embedded one on a loopback port."""
    token = read_operator_token(settings)
    configured_key = (
        settings.console.api_key.get_secret_value() if settings.console.api_key else None
    )
    candidates = [u for u in (url, settings.console.url) if u]
    if token and isinstance(token.get("url"), str):
        candidates.append(str(token["url"]))
    candidates.append(settings.api_url)
    for candidate in dict.fromkeys(candidates):
        if not backend_answers(candidate):
            if candidate == url:
                raise SettingsError(f"console: no HashInsight backend answers at {url}")
            continue
        key = configured_key
        if key is None and token and token.get("url") == candidate:
            key = str(token["api_key"])
        if key is None:
            raise SettingsError(
                f"console: a backend answers at {candidate} but no API key is configured; set "
                "HASHINSIGHT_CONSOLE__API_KEY or [console] api_key in the config file"
            )
        return Target(candidate, key)
    return start_embedded(settings.model_copy(update={"api_host": "127.0.0.1", "api_port": 0}))


def start_embedded(settings: Settings, mode: str = "embedded") -> Target:
    thread = BackendThread(settings, mode=mode)  # type: ignore[arg-type]
    backend = thread.start()
    assert backend.operator_token is not None
    return Target(backend.url, backend.operator_token, thread)


def demo_settings(settings: Settings, port: int = 0) -> Settings:
    """Each demo run gets its own fresh data dir, so it never touches a real installation
    (nor another demo running beside it). `remove_demo_dir` deletes it at exit."""
    runs = settings.data_dir / "demo-runs"
    for stale in runs.glob("run-*") if runs.exists() else []:
        if not _pid_alive(int(stale.name.removeprefix("run-") or 0)):
            shutil.rmtree(stale, ignore_errors=True)
    demo_dir = runs / f"run-{os.getpid()}"
    shutil.rmtree(demo_dir, ignore_errors=True)
    return settings.model_copy(
        update={
            "data_dir": demo_dir,
            "database_url": None,
            "redis_url": None,
            "api_host": "127.0.0.1",
            "api_port": port,
        }
    )


def remove_demo_dir(demo: Settings) -> None:
    if demo.data_dir.parent.name == "demo-runs":
        shutil.rmtree(demo.data_dir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def console_options(
    settings: Settings, target: Target, start_screen: str = "health"
) -> ConsoleOptions:
    console = settings.console
    return ConsoleOptions(
        url=target.url,
        api_key=target.api_key,
        refresh_s=console.refresh_s,
        theme=console.theme,
        keymap=tuple(sorted(console.keymap.items())),
        read_only=console.read_only,
        start_screen=start_screen,
    )


def log_file(settings: Settings) -> Path:
    return settings.data_dir / "hashinsight.log"
