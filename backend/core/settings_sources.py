"""Where settings come from: the TOML file and the environment, as pydantic-settings sources.

Each source remembers which key it supplied and from where, so a value that fails validation is
reported in one line naming the key and its source (`describe`). The sources know nothing of the
features: they read whatever fields the settings class they are given declares.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from backend.core.settings import ENV_PREFIX, SettingsError

# Environment names that choose where settings live rather than setting a field.
_LOCATION_ENV = frozenset(ENV_PREFIX + s for s in ("CONFIG", "CONFIG_DIR", "DATA_DIR"))
_SECRET_WORDS = ("key", "secret", "password", "jwt", "pepper", "token")


class _RecordingSource(PydanticBaseSettingsSource):
    """A source that reads once and keeps what it found (`values`) and whence (`origins`)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # The whole mapping is built in __call__; pydantic-settings asks field by field only
        # through this hook, which these sources do not use.
        return self.values.get(field_name), field_name, False


class TomlFileSource(_RecordingSource):
    """The installation's config.toml: absent is fine, unreadable or malformed is one line."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def __call__(self) -> dict[str, Any]:
        self.values = _read_toml(self.path)
        self.origins = {key: f"{self.path}" for key in self.values}
        return self.values


class EnvironmentSource(_RecordingSource):
    """`HASHINSIGHT_<KEY>` variables (`HASHINSIGHT_CONSOLE__THEME` for a nested key) and the
    original deployment's names (`legacy`: variable → key); the prefixed name wins."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str],
        legacy: Mapping[str, str],
    ) -> None:
        super().__init__(settings_cls)
        self.environ = environ
        self.legacy = legacy

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, (value, origin) in self._found().items():
            if "." in key:
                section, sub = key.split(".", 1)
                values.setdefault(section, {})
                if not isinstance(values[section], dict):
                    values[section] = {}
                values[section][sub] = value
            else:
                values[key] = value
            self.origins[key] = origin
        self.values = values
        return values

    def _found(self) -> dict[str, tuple[str, str]]:
        """Setting key ("console.theme" for nested ones) → (value, where it was read)."""
        fields = self.settings_cls.model_fields
        found: dict[str, tuple[str, str]] = {}
        for name, key in self.legacy.items():
            if self.environ.get(name):
                found[key] = (self.environ[name], f"env {name}")
        for name, value in self.environ.items():
            if not name.startswith(ENV_PREFIX) or name in _LOCATION_ENV:
                continue
            key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            if key in fields or key.split(".", 1)[0] in fields:
                found[key] = (value, f"env {name}")
        return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"settings: cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings: {path} is not valid TOML: {exc}") from None
    if "config_dir" in data or "data_dir" in data:
        raise SettingsError(
            f"settings: {path}: data_dir/config_dir are set by {ENV_PREFIX}DATA_DIR and "
            f"{ENV_PREFIX}CONFIG_DIR, not in the file"
        )
    return data


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers over earlier ones, tables merged key by key (as the sources are combined)."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            below = result.get(key)
            if isinstance(below, dict) and isinstance(value, dict):
                result[key] = merged(below, value)
            else:
                result[key] = value
    return result


def describe(exc: ValidationError, values: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """The first error as one line: key, its value unless secret, its source, what is wrong."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "?"
    source = origins.get(key) or origins.get(loc[0]) or "defaults"
    secret = any(word in key for word in _SECRET_WORDS)
    value = values.get(loc[0]) if loc else None
    if len(loc) > 1 and isinstance(value, dict):
        value = value.get(loc[1])
    shown = "" if secret or value is None else f" = {str(value)[:60]!r}"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"settings: {key}{shown} (from {source}): {message}"
