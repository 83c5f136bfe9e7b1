"""Settings every part of the backend shares: paths, the API's listener, database and Redis,
the HTTP client, WebSocket limits, secrets, logging; plus the console's own block.

Each feature package extends `CoreSettings` with its own fields (backend/fleet/settings.py…),
names that block on its line in backend/registry.py, and backend/settings.py composes the blocks
into the one `Settings` the program loads. Core code types against `CoreSettings`, so it never
learns which features exist. A bad value produces one line that names the key and where it came
from (`SettingsError`), which the CLI prints before exiting with status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

APP_NAME = "hashinsight"
ENV_PREFIX = "HASHINSIGHT_"
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")

# Environment names of the original deployment, honoured as they are (each feature lists its own).
LEGACY_ENV: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "SESSION_SECRET": "session_secret",
}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the key and its source."""


class ConsoleSettings(BaseModel):
    """How the console looks and behaves for this user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    api_key: SecretStr | None = None
    theme: str = "textual-dark"
    refresh_s: float = Field(default=5.0, ge=0.5, le=3600)
    keymap: dict[str, str] = Field(default_factory=dict)
    read_only: bool = False


class CoreSettings(BaseModel):
    """The shared block of one installation's settings. Secrets are `SecretStr` so they never
    print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_dir: Path
    data_dir: Path
    config_file: Path

    # Backend and API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8765, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    database_url: str | None = None
    redis_url: str | None = None
    shutdown_timeout_s: float = Field(default=5.0, gt=0, le=60)
    health_check_interval_s: float = Field(default=15.0, ge=1, le=3600)
    ws_queue_size: int = Field(default=1000, ge=10, le=100_000)
    ws_heartbeat_s: float = Field(default=15.0, ge=1, le=300)
    ws_auth_timeout_s: float = Field(default=10.0, ge=1, le=120)
    operator_token_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    http_retries: int = Field(default=2, ge=0, le=10)
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_cooldown_s: float = Field(default=60.0, gt=0, le=3600)
    # Untrusted input (backend.core.untrusted): the largest request body the API reads (larger:
    # 413 before any parsing) and the deepest JSON nesting it parses (bodies, WebSocket frames).
    api_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    # The API's HTTP/1.1 parser: httptools when installed (auto), or h11 (backend.core.http_wire).
    api_http: Literal["auto", "httptools", "h11"] = "auto"
    json_max_depth: int = Field(default=64, ge=8, le=512)
    api_trusted_proxies: str = ""  # proxies whose X-Forwarded-For names the client (auth throttle)
    exports_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    exports_max_concurrent: int = Field(default=2, ge=1, le=32)
    exports_max_rows: int = Field(default=5_000_000, ge=1, le=1_000_000_000)

    # Secrets (env or 0600 files in the data dir; see backend.core.secrets)
    pepper: SecretStr | None = None
    fernet_key: SecretStr | None = None
    session_secret: SecretStr | None = None
    operator_key: SecretStr | None = None
    # Argon2id cost of API-key hashes (RFC 9106 low-memory profile by default). Stored hashes
    # carry their own parameters, so changing these affects new keys only. Core builds the
    # hasher with the pepper (backend.core.secrets), so the cost lives beside the secrets.
    key_hash_time_cost: int = Field(default=3, ge=1, le=20)
    key_hash_memory_kib: int = Field(default=65_536, ge=1_024, le=4_194_304)

    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @field_validator("api_host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("api_trusted_proxies")
    @classmethod
    def _api_trusted_proxies(cls, value: str) -> str:
        return check_networks(value)

    @property
    def api_url(self) -> str:
        host = self.api_host if ":" not in self.api_host else f"[{self.api_host}]"
        return f"http://{host}:{self.api_port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return _async_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'hashinsight.db'}"

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain data with every secret replaced by a mask."""
        return _mask(self.model_dump(mode="python"))


def check_networks(value: str) -> str:
    """A comma-separated list of IP addresses or networks (trusted proxies), checked as given."""
    import ipaddress

    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return value


def split_names(value: Any) -> Any:
    """Env and TOML may give a list of names as "a,b,c"."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _async_database_url(url: str) -> str:
    """Accept the usual `postgres://` spellings and pick the async driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return mask_url(value)
    return value


def mask_url(text: str) -> str:
    """A URL cut to its scheme and host[:port]: providers put keys in paths, queries, userinfo.

    Whatever follows the authority (Alchemy/Infura keys in the path, `?apikey=`, `user:pass@`)
    becomes "/…". Applied to every string that looks like a URL, so a new URL setting is masked
    without anyone remembering to list it. Text that is not a URL is returned unchanged.
    """
    scheme, sep, rest = text.partition("://")
    if not sep or not _SCHEME_RE.match(scheme):
        return text
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if not host:  # "sqlite:///path": no host, nothing a provider could hide in an authority
        return text
    base = f"{scheme}://{host}"
    return base if rest in (host, host + "/") else base + "/…"


def default_dirs(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """Config and data dirs: platformdirs (XDG_* on Linux), overridable by env.

    XDG variables are read from the given mapping too, so a caller's environment isolates an
    installation even when it is not the process environment.
    """
    xdg_config = environ.get("XDG_CONFIG_HOME", "").strip()
    xdg_data = environ.get("XDG_DATA_HOME", "").strip()
    config_dir = environ.get(ENV_PREFIX + "CONFIG_DIR") or (
        str(Path(xdg_config) / APP_NAME)
        if xdg_config.startswith("/")
        else platformdirs.user_config_dir(APP_NAME)
    )
    data_dir = environ.get(ENV_PREFIX + "DATA_DIR") or (
        str(Path(xdg_data) / APP_NAME)
        if xdg_data.startswith("/")
        else platformdirs.user_data_dir(APP_NAME)
    )
    return Path(config_dir), Path(data_dir)


def ensure_dirs(settings: CoreSettings) -> None:
    """Create the config and data dirs (0700); a clear `SettingsError` when that is impossible."""
    for label, path in (("config dir", settings.config_dir), ("data dir", settings.data_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SettingsError(
                f"settings: {label} {path} cannot be created: {exc.strerror}"
            ) from None
        if not os.access(path, os.W_OK):
            raise SettingsError(f"settings: {label} {path} is not writable")
