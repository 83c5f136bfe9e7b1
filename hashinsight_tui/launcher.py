"""Decide what the console talks to: a backend that answers, or one we embed in our own thread."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from backend.core.secrets import operator_token_path, read_operator_token
from backend.runtime import BackendThread, World
from backend.settings import Settings, SettingsError
from hashinsight_tui.app import ConsoleOptions, keymap_problems


@dataclass
class Target:
    url: str
    api_key: str
    embedded: BackendThread | None = None
    # Set when the key is the backend's local operator token: the console re-reads this file
    # when the key is refused, since a restarted backend writes a new token there.
    token_file: Path | None = None


def backend_answers(url: str, timeout_s: float = 1.5) -> bool:
    try:
        response = httpx.get(url.rstrip("/") + "/healthz", timeout=timeout_s, trust_env=False)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        return False


def console_source(settings: Settings, name: str, environ: Mapping[str, str] | None = None) -> str:
    """Where a `[console]` setting came from, for the one line that refuses it."""
    env = os.environ if environ is None else environ
    variable = f"HASHINSIGHT_CONSOLE__{name.upper()}"
    return f"env {variable}" if env.get(variable) else str(settings.config_file)


def check_url(url: str, where: str) -> str:
    """An http(s) URL with a host, or a `SettingsError` naming `where` it came from."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise SettingsError(f"settings: {where}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"settings: {where}: not an http(s) URL of a backend (e.g. http://backend.example:8765)"
        )
    return url.strip()


def check_console_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse console settings that would otherwise be ignored without a word."""
    console = settings.console
    if console.url:
        source = console_source(settings, "url", environ)
        check_url(console.url, f"console.url = {console.url!r} (from {source})")
    if console.keymap:
        problems = keymap_problems(console.keymap, console_source(settings, "keymap", environ))
        if problems:
            raise SettingsError(problems[0])


def resolve_target(settings: Settings, url: str | None) -> Target:
    """The backend the operator named (`--url`, else `[console] url`), which must answer; with
    none named, a running local backend, or else an embedded one on a loopback port."""
    token = read_operator_token(settings)
    configured_key = (
        settings.console.api_key.get_secret_value() if settings.console.api_key else None
    )

    def attach(candidate: str) -> Target:
        key = configured_key
        if key is None and token and token.get("url") == candidate:
            path = operator_token_path(settings)
            return Target(candidate, str(token["api_key"]), token_file=path)
        if key is None:
            raise SettingsError(
                f"console: a backend answers at {candidate} but no API key is configured; set "
                "HASHINSIGHT_CONSOLE__API_KEY or [console] api_key in the config file"
            )
        return Target(candidate, key)

    if url or settings.console.url:
        # Named explicitly: that backend or none. Falling back to another one (or to an embedded
        # backend with its own empty data) would show the operator a different site.
        if url:
            where = f"--url {url!r}"
            named = check_url(url, where)
        else:
            where = f"console.url (from {console_source(settings, 'url')})"
            named = check_url(str(settings.console.url), where)
        if not backend_answers(named):
            raise SettingsError(f"console: no HashInsight backend answers at {named} ({where})")
        return attach(named)
    candidates = []
    if token and isinstance(token.get("url"), str):
        candidates.append(str(token["url"]))
    candidates.append(settings.api_url)
    for candidate in dict.fromkeys(candidates):
        if backend_answers(candidate):
            return attach(candidate)
    return start_embedded(settings.model_copy(update={"api_host": "127.0.0.1", "api_port": 0}))


def start_embedded(
    settings: Settings, mode: str = "embedded", world: World | None = None
) -> Target:
    thread = BackendThread(settings, mode=mode, world=world)  # type: ignore[arg-type]
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
        token_file=str(target.token_file) if target.token_file is not None else None,
    )


def log_file(settings: Settings) -> Path:
    return settings.data_dir / "hashinsight.log"
