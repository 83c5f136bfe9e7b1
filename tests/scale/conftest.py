"""Session-wide Redis and PostgreSQL servers, started once and stopped at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.servers import postgres_server, redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (CI installs it; apt-get install redis-server)")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (CI installs it; apt-get install postgresql)")


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
