"""Rotating the pepper and the Fernet key keeps every key working under the new secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend.auth.partners import Partners
from backend.auth.rotate import RotationError, rotate_secrets
from backend.auth.service import AuthService
from backend.core.db import Database
from backend.core.secrets import load_backend_secrets
from backend.core.settings import load_settings
from tests.conftest import isolated_env


async def test_rotation_rehashes_and_reencrypts(tmp_path: Path) -> None:
    settings = load_settings(await asyncio.to_thread(isolated_env, tmp_path))  # may migrate
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    old = load_backend_secrets(settings)
    db = Database(settings.effective_database_url)
    await db.upgrade()
    auth = AuthService(db, old)
    info, full = await auth.create_key(name="keep me")
    _view, _pinfo, pkey, secret = await Partners(db, auth).register(name="P")
    await db.close()

    result = await rotate_secrets(settings, pepper=True, fernet=True)
    assert result.keys == 2 and result.partners == 1 and "pepper" in repr(result)
    new = load_backend_secrets(settings)
    assert new.pepper != old.pepper
    assert (settings.data_dir / "secrets" / "pepper.old").read_bytes().strip() == old.pepper
    db = Database(settings.effective_database_url)
    try:
        fresh = AuthService(db, new)
        assert (await fresh.verify(full)) is not None and (await fresh.verify(pkey)) is not None
        assert await fresh.reveal(info.key_id) == full
        assert await Partners(db, fresh).signing_secret(_view["partner_id"]) == secret
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
