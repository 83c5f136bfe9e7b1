"""The one settings object: defaults, then the TOML file, then the environment, then explicit
overrides.

Each feature owns its block (backend/<feature>/settings.py, all extending `CoreSettings`) and
names it on its line in the registry (`backend/registry.py`); this module composes the blocks by
inheritance, in registry order, so every key stays flat (`fleet_poll_interval_s`, not
`fleet.poll_interval_s`) in code, in the TOML file and in the environment. A feature's code
types against its own block (`FleetSettings`), core code against `CoreSettings`. Every value is
validated once at start; a bad one raises `SettingsError` with one line naming the key and where
it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from backend.core import settings as core
from backend.core.settings import ENV_PREFIX, SettingsError, default_dirs, ensure_dirs
from backend.core.settings_sources import EnvironmentSource, TomlFileSource, describe, merged
from backend.registry import settings_blocks

__all__ = ["LEGACY_ENV", "Settings", "SettingsError", "ensure_dirs", "load_settings"]

_BLOCKS = settings_blocks()

# Environment names of the original deployment (e.g. DATABASE_URL, BASE_L2_RPC) → setting key.
LEGACY_ENV: dict[str, str] = {
    **core.LEGACY_ENV,
    **{name: key for block in _BLOCKS for name, key in block.legacy_env.items()},
}

# The file and environment sources of the `load_settings` call under way; outside one, Settings
# is built from the values given and nothing else.
_LOADING: ContextVar[tuple[PydanticBaseSettingsSource, ...]] = ContextVar("settings_loading")


class Settings(*(block.cls for block in _BLOCKS), BaseSettings):  # type: ignore[misc]
    """Effective settings of one installation. Secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: explicit values, the environment, the TOML file (then defaults)."""
        return (init_settings, *_LOADING.get(()))


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build and validate the settings; raise `SettingsError` with a one-line message."""
    env = dict(os.environ if environ is None else environ)
    config_dir, data_dir = default_dirs(env)
    config_file = Path(env.get(ENV_PREFIX + "CONFIG") or config_dir / "config.toml")
    environment = EnvironmentSource(Settings, env, LEGACY_ENV)
    toml = TomlFileSource(Settings, config_file)
    given = dict(overrides or {})
    explicit = {**given, "config_dir": config_dir, "data_dir": data_dir, "config_file": config_file}

    loading = _LOADING.set((environment, toml))
    try:
        return Settings(**explicit)
    except ValidationError as exc:
        values = merged(toml.values, environment.values, explicit)
        origins = {
            **toml.origins,
            **environment.origins,
            **dict.fromkeys(given, "command line"),
        }
        raise SettingsError(describe(exc, values, origins)) from None
    finally:
        _LOADING.reset(loading)
