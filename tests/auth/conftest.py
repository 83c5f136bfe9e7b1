"""An AuthService on a migrated SQLite database, with test-sized Argon2id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from backend.auth import keys
from backend.auth.service import AuthService
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.core.secrets import BackendSecrets


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        keys, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def secrets() -> BackendSecrets:
    return BackendSecrets(pepper=b"p" * 32, fernet=Fernet(Fernet.generate_key()))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def auth(db: Database, secrets: BackendSecrets, clock: ManualClock) -> AuthService:
    return AuthService(db, secrets, clock=clock)
