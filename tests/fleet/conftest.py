"""Shared helpers for the fleet tests: the captured miner replies in tests/data/captures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backend.core.db import Database

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "data" / "captures"
MINERS_DIR = FIXTURES_DIR / "miners"


def miner_fixture_files() -> list[Path]:
    files = sorted(MINERS_DIR.glob("*.json"))
    assert files, f"captured miner replies missing from {MINERS_DIR}"
    return files


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``miner_fixture_path`` with every captured reply."""
    if "miner_fixture_path" not in metafunc.fixturenames:
        return
    files = miner_fixture_files()
    metafunc.parametrize("miner_fixture_path", files, ids=[f.name for f in files])


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Raw bytes of one captured reply by file name."""

    def load(name: str) -> bytes:
        return (MINERS_DIR / name).read_bytes()

    return load


@pytest.fixture
def db(database: Database) -> Database:
    """The fleet's storage tests run on SQLite and on PostgreSQL (see tests/conftest.py)."""
    return database
