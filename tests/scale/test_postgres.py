"""The same models and migrations on a real PostgreSQL server as on SQLite."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import inspect

from backend.auth.service import AuthService
from backend.core.audit import recent_audit
from backend.core.db import Database
from backend.core.secrets import load_backend_secrets
from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import isolated_env


async def test_migrations_and_keys_on_postgres(tmp_path: Path, pg_database: str) -> None:
    settings = load_settings(isolated_env(tmp_path), overrides={"database_url": pg_database})
    assert settings.effective_database_url.startswith("postgresql+asyncpg://")
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # idempotent
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"api_keys", "audit_log", "alembic_version"} <= tables
        auth = AuthService(db, load_backend_secrets(settings))
        info, key = await auth.create_key(name="pg", scopes="read")
        verified = await auth.verify(key)
        assert verified is not None and verified.created_at.tzinfo is not None
        assert await auth.revoke(info.key_id)
        assert await auth.verify(key) is None
        async with db.session() as session:
            actions = [entry.action for entry in await recent_audit(session)]
        assert actions[:2] == ["key.revoke", "key.create"]
    finally:
        await db.close()


async def test_backend_serves_on_postgres(tmp_path: Path, pg_database: str) -> None:
    settings = load_settings(
        isolated_env(tmp_path), overrides={"database_url": pg_database, "api_port": 0}
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    try:
        async with httpx.AsyncClient(base_url=backend.url) as http:
            response = await http.get(
                "/api/v1/health",
                headers={"Authorization": f"Bearer {backend.initial_operator_key}"},
            )
        database = next(i for i in response.json()["integrations"] if i["name"] == "database")
        assert database["status"] == "ok"
        assert database["target"].startswith("postgresql+asyncpg://…@127.0.0.1")
    finally:
        await backend.stop()
