"""Rotating the notary key: refused while it could split a notarization across two keys."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.core.db import Database
from backend.notary.models import NotarizationRow
from backend.notary.rotate import rotate_notary_key
from backend.notary.signing import NotaryKeyError, key_file, load_notary_key
from backend.runtime import Backend
from backend.settings import Settings, load_settings
from hashinsight_cli import main as cli
from tests.helpers import isolated_env


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    env = await asyncio.to_thread(isolated_env, tmp_path)  # may migrate a template database
    return load_settings(env, overrides={"api_port": 0})


async def test_new_key_signs_and_the_old_one_is_kept_private(settings: Settings) -> None:
    old = load_notary_key(settings)
    rotation = await rotate_notary_key(settings)
    new = load_notary_key(settings)
    assert rotation.old_address == old.address and rotation.new_address == new.address
    assert new.address != old.address
    assert rotation.kept_as is not None and rotation.kept_as.name.startswith("notary.key.old-")
    assert stat.S_IMODE(rotation.kept_as.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file(settings).stat().st_mode) == 0o600
    kept = rotation.kept_as.read_text().strip()
    assert kept == old.account.key.hex() or kept.removeprefix("0x") == old.account.key.hex()


async def test_refused_while_a_backend_runs_or_a_notarization_is_unfinished(
    settings: Settings,
) -> None:
    before = load_notary_key(settings).address
    backend = Backend(settings, mode="serve")
    await backend.start()
    try:
        with pytest.raises(NotaryKeyError, match="stop it first"):
            await rotate_notary_key(settings)
    finally:
        await backend.stop()
    db = Database(settings.effective_database_url)
    try:
        async with db.session() as session:
            now = datetime.now(UTC)
            session.add(
                NotarizationRow(
                    created_at=now,
                    updated_at=now,
                    trigger="manual",
                    requested_by="test",
                    period_start=now,
                    period_end=now,
                    status="running",
                    steps="{}",
                )
            )
    finally:
        await db.close()
    with pytest.raises(NotaryKeyError, match="1 notarization"):
        await rotate_notary_key(settings)
    assert load_notary_key(settings).address == before


async def test_a_key_from_the_environment_is_never_replaced(tmp_path: Path) -> None:
    env = await asyncio.to_thread(isolated_env, tmp_path, BLOCKCHAIN_PRIVATE_KEY="0x" + "11" * 32)
    with pytest.raises(NotaryKeyError, match="BLOCKCHAIN_PRIVATE_KEY"):
        await rotate_notary_key(load_settings(env))


def test_the_console_command_prints_both_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["notary", "rotate-key"]) == 0  # no key yet: the first one is made
    first = capsys.readouterr().out
    assert "new notary address: 0x" in first and "old notary address" not in first
    assert cli.main(["notary", "rotate-key"]) == 0
    second = capsys.readouterr().out
    assert "old notary address: 0x" in second and "fund the new address" in second
    secret = (tmp_path / "data" / "hashinsight" / "secrets" / "notary.key").read_text().strip()
    assert secret.removeprefix("0x") not in first + second  # the key itself is never printed
