"""An AuthService on a migrated database (SQLite, then PostgreSQL), with test-sized Argon2id."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from backend.auth.service import AuthService
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.core.secrets import BackendSecrets


@pytest.fixture
def db(database: Database) -> Database:
    """Each auth test runs on SQLite and on PostgreSQL (see tests/conftest.py)."""
    return database


@pytest.fixture
def secrets() -> BackendSecrets:
    cheap = PasswordHasher(time_cost=1, memory_cost=8_192)  # production's cost is tested apart
    return BackendSecrets(pepper=b"p" * 32, fernet=Fernet(Fernet.generate_key()), hasher=cheap)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def auth(db: Database, secrets: BackendSecrets, clock: ManualClock) -> AuthService:
    return AuthService(db, secrets, clock=clock)
