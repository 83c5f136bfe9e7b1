"""Migration 0007_issuer creates exactly the issuer tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from backend.core.db import run_migrations
from backend.models import Base

ISSUER_TABLES = {"issues", "issue_trades", "issuer_cursor"}


def test_migration_matches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= ISSUER_TABLES
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    ours = [d for d in diff if any(t in repr(d) for t in ISSUER_TABLES)]
    assert ours == []
