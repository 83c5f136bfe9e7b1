"""Rotating the pepper and the Fernet key keeps every key working under the new secrets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from backend.auth.partners import Partners
from backend.auth.rotate import RotationError, rotate_secrets
from backend.auth.service import AuthService
from backend.core.db import Database
from backend.core.secrets import load_backend_secrets
from backend.fleet.credentials import CredentialStore
from backend.runtime import Backend
from backend.settings import load_settings
from hashinsight_cli import main as cli
from tests.helpers import isolated_env


async def test_rotation_rehashes_and_reencrypts(tmp_path: Path) -> None:
    settings = load_settings(await asyncio.to_thread(isolated_env, tmp_path))  # may migrate
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    old = load_backend_secrets(settings)
    db = Database(settings.effective_database_url)
    await db.upgrade()
    auth = AuthService(db, old)
    info, full = await auth.create_key(name="keep me")
    _view, _pinfo, pkey, secret = await Partners(db, auth).register(name="P")
    await CredentialStore(db, old.fernet).set(
        scope="site",
        target="Site A",
        kind="web",
        username="root",
        password="site-a-web-pass",
        port=None,
        actor="test",
        now=datetime.now(UTC),
    )
    await db.close()

    result = await rotate_secrets(settings, pepper=True, fernet=True)
    assert result.keys == 2 and result.partners == 1 and result.credentials == 1
    assert "pepper" in repr(result) and "site-a-web-pass" not in repr(result)
    new = load_backend_secrets(settings)
    assert new.pepper != old.pepper
    assert (settings.data_dir / "secrets" / "pepper.old").read_bytes().strip() == old.pepper
    db = Database(settings.effective_database_url)
    try:
        fresh = AuthService(db, new)
        assert (await fresh.verify(full)) is not None and (await fresh.verify(pkey)) is not None
        assert await fresh.reveal(info.key_id) == full
        assert await Partners(db, fresh).signing_secret(_view.partner_id) == secret
        # a miner's control password still reads under the new key, and not under the old
        web = await CredentialStore(db, new.fernet).resolve("127.0.0.9:4028", "Site A", "web")
        assert web.error is None and web.password == "site-a-web-pass"
        gone = await CredentialStore(db, old.fernet).resolve("127.0.0.9:4028", "Site A", "web")
        assert gone.password is None and gone.error is not None
        stale = AuthService(db, old)
        assert await stale.verify(full) is None  # the old pepper no longer verifies
    finally:
        await db.close()


async def test_env_held_secrets_need_their_new_value(tmp_path: Path) -> None:
    env = await asyncio.to_thread(  # isolated_env may migrate a template database
        isolated_env, tmp_path, HASHINSIGHT_PEPPER="an-environment-pepper-value"
    )
    settings = load_settings(env)
    with pytest.raises(RotationError, match="HASHINSIGHT_NEW_PEPPER"):
        await rotate_secrets(settings, pepper=True, fernet=False)
    with pytest.raises(RotationError, match="nothing to rotate"):
        await rotate_secrets(settings, pepper=False, fernet=False)


async def test_rotation_is_refused_while_a_backend_runs_on_the_database(tmp_path: Path) -> None:
    settings = load_settings(
        await asyncio.to_thread(isolated_env, tmp_path), overrides={"api_port": 0}
    )
    before = load_backend_secrets(settings).pepper
    backend = Backend(settings, mode="serve")
    await backend.start()
    try:
        with pytest.raises(RotationError, match=r"a backend is running .* stop it first"):
            await rotate_secrets(settings, pepper=True, fernet=True)
    finally:
        await backend.stop()
    assert load_backend_secrets(settings).pepper == before  # nothing changed
    assert not (settings.data_dir / "secrets" / "pepper.old").exists()
    result = await rotate_secrets(settings, pepper=True, fernet=False)  # stopped: it goes ahead
    assert result.pepper_rotated and load_backend_secrets(settings).pepper != before


def test_the_console_command_rotates_and_says_what_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HASHINSIGHT_FERNET_KEY", Fernet.generate_key().decode())
    assert cli.main(["keys", "rotate-secrets", "--fernet"]) == 2
    assert "HASHINSIGHT_NEW_FERNET_KEY" in capsys.readouterr().err
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("HASHINSIGHT_NEW_FERNET_KEY", new_key)
    assert cli.main(["keys", "rotate-secrets", "--fernet"]) == 0
    out = capsys.readouterr().out
    assert "rotated: 0 keys" in out and "now set HASHINSIGHT_FERNET_KEY" in out
    assert new_key not in out  # the secret itself is never printed
