"""Shared helpers for the fleet tests: locate the captured miner replies in shared/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backend.core.db import Database


def _fixtures_dir() -> Path:
    """``shared/fixtures`` beside the checkout (/work/main) or beside a worktree's parent
    (/work/wt/NAME): the nearest ancestor that has one."""
    repo = Path(__file__).resolve().parents[2]
    for parent in repo.parents:
        candidate = parent / "shared" / "fixtures"
        if candidate.is_dir():
            return candidate
    return repo.parent / "shared" / "fixtures"


FIXTURES_DIR = _fixtures_dir()
MINERS_DIR = FIXTURES_DIR / "miners"
MISSING_REASON = f"captured miner fixtures not found at {MINERS_DIR}"


def miner_fixture_files() -> list[Path]:
    return sorted(MINERS_DIR.glob("*.json")) if MINERS_DIR.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``miner_fixture_path`` with every captured reply (skip if absent)."""
    if "miner_fixture_path" not in metafunc.fixturenames:
        return
    files = miner_fixture_files()
    if files:
        metafunc.parametrize("miner_fixture_path", files, ids=[f.name for f in files])
    else:
        skipped = pytest.param(None, marks=pytest.mark.skip(reason=MISSING_REASON))
        metafunc.parametrize("miner_fixture_path", [skipped], ids=["no-fixtures"])


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Raw bytes of one captured reply by file name; skips cleanly when it is missing."""

    def load(name: str) -> bytes:
        path = MINERS_DIR / name
        if not path.is_file():
            pytest.skip(f"{MISSING_REASON} ({name})")
        return path.read_bytes()

    return load


@pytest.fixture
def db(database: Database) -> Database:
    """The fleet's storage tests run on SQLite and on PostgreSQL (see tests/conftest.py)."""
    return database
