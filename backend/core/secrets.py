"""Secrets the backend owns: the API-key pepper and the Fernet key.

Each comes from the environment when set there, or else from a file in `<data dir>/secrets/` that is
created once with 0600 permissions. A file readable by group or others is refused, never used.
"""

from __future__ import annotations

import json
import os
import secrets as std_secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from backend.core.settings import CoreSettings


class SecretFileError(Exception):
    """A secret file is unreadable, malformed or too open; the message names the file, never the
    value."""


def write_private_file(path: Path, content: bytes) -> None:
    """Write atomically with 0600 permissions, so a half-written secret is never read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_private_file(path: Path) -> bytes:
    """Read a file that must be private to its owner."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretFileError(f"{path}: cannot read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(
            f"{path}: permissions {stat.filemode(mode)} are too open; run `chmod 600 {path}`"
        )
    return path.read_bytes()


@dataclass(frozen=True)
class BackendSecrets:
    pepper: bytes
    fernet: Fernet
    hasher: PasswordHasher = field(default_factory=PasswordHasher)  # Argon2id for API keys

    def __repr__(self) -> str:
        return "BackendSecrets(<hidden>)"


def load_backend_secrets(settings: CoreSettings) -> BackendSecrets:
    secrets_dir = settings.data_dir / "secrets"
    if settings.pepper is not None:
        pepper = settings.pepper.get_secret_value().encode()
    else:
        pepper = _file_secret(secrets_dir / "pepper", lambda: std_secrets.token_hex(32).encode())
    if len(pepper) < 16:
        raise SecretFileError("pepper: must be at least 16 characters")
    if settings.fernet_key is not None:
        fernet_key = settings.fernet_key.get_secret_value().encode()
    else:
        fernet_key = _file_secret(secrets_dir / "fernet.key", Fernet.generate_key)
    try:
        fernet = Fernet(fernet_key.strip())
    except ValueError:
        raise SecretFileError(
            "fernet key: not a valid Fernet key (32 url-safe base64 bytes)"
        ) from None
    hasher = PasswordHasher(
        time_cost=settings.key_hash_time_cost, memory_cost=settings.key_hash_memory_kib
    )
    return BackendSecrets(pepper=pepper.strip(), fernet=fernet, hasher=hasher)


def _file_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    try:
        return read_private_file(path).strip()
    except FileNotFoundError:
        value = make()
        write_private_file(path, value + b"\n")
        return value


# --- The local operator token: how a console of the same Unix user attaches without typing a key.


def operator_token_path(settings: CoreSettings) -> Path:
    return settings.data_dir / "operator-token.json"


def write_operator_token(settings: CoreSettings, url: str, api_key: str, expires_at: float) -> Path:
    path = operator_token_path(settings)
    body = {"url": url, "api_key": api_key, "expires_at": expires_at, "pid": os.getpid()}
    write_private_file(path, json.dumps(body).encode())
    return path


def read_operator_token(settings: CoreSettings) -> dict[str, object] | None:
    """The token file's contents, or None when there is none or it is unusable."""
    try:
        data = json.loads(read_private_file(operator_token_path(settings)))
    except (FileNotFoundError, SecretFileError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
        return None
    return data


def remove_operator_token(settings: CoreSettings, api_key: str) -> None:
    """Remove the token file if it still holds our token (another backend may have replaced it)."""
    current = read_operator_token(settings)
    if current and current.get("api_key") == api_key:
        operator_token_path(settings).unlink(missing_ok=True)
