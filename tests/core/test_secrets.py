"""Secrets: created once with 0600, taken from env when set, refused when too open."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from backend.core.secrets import SecretFileError, load_backend_secrets, read_operator_token
from backend.settings import load_settings
from tests.helpers import isolated_env


def test_secrets_are_generated_once_as_private_files(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path))
    first = load_backend_secrets(settings)
    second = load_backend_secrets(settings)
    assert first.pepper == second.pepper and len(first.pepper) == 64
    token = first.fernet.encrypt(b"x")
    assert second.fernet.decrypt(token) == b"x"
    for name in ("pepper", "fernet.key"):
        path = settings.data_dir / "secrets" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pepper" not in repr(first) or "hidden" in repr(first)


def test_env_secrets_win_over_files(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    env = isolated_env(tmp_path, HASHINSIGHT_PEPPER="p" * 32, HASHINSIGHT_FERNET_KEY=key)
    secrets = load_backend_secrets(load_settings(env))
    assert secrets.pepper == b"p" * 32
    assert not (tmp_path / "data" / "hashinsight" / "secrets" / "pepper").exists()


def test_group_readable_secret_file_is_refused(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path))
    load_backend_secrets(settings)
    path = settings.data_dir / "secrets" / "fernet.key"
    path.chmod(0o640)
    with pytest.raises(SecretFileError, match="too open"):
        load_backend_secrets(settings)


def test_bad_fernet_key_is_a_clear_error_without_the_value(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, HASHINSIGHT_FERNET_KEY="not-a-key-123")
    with pytest.raises(SecretFileError) as err:
        load_backend_secrets(load_settings(env))
    assert "not-a-key-123" not in str(err.value)


def test_unusable_operator_token_file_is_ignored(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "operator-token.json"
    path.write_text("{broken")
    path.chmod(0o600)
    assert read_operator_token(settings) is None
    path.write_text('{"api_key": "k", "url": "http://x"}')
    path.chmod(0o644)
    assert read_operator_token(settings) is None
