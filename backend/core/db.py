"""The one database helper: an async SQLAlchemy engine, sessions, and Alembic migrations.

SQLite (aiosqlite) in the data dir by default; PostgreSQL (asyncpg) when `DATABASE_URL` is set.
The few engine-specific paths live here, behind one call each: `insert` (a dialect INSERT, so
`ON CONFLICT` works on both engines) and `append` (bulk rows: COPY on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, Table, event, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message is one clear line."""


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error.

        The rollback and the close run to the end even when the task is cancelled meanwhile (a
        service stopping): a cancel there would leave the connection checked out, half reset.
        """
        session = self._sessions()
        try:
            yield session
            await session.commit()
        except BaseException:
            await _finish_despite_cancel(session.rollback())
            raise
        finally:
            await _finish_despite_cancel(session.close())

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT in this engine's dialect: both offer `on_conflict_do_nothing` and
        `on_conflict_do_update`, so "insert unless present" and upserts are one atomic
        statement instead of a read then a write that two processes can race."""
        return sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)

    async def append(
        self, session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Append many rows (all with the same keys) inside `session`'s transaction.

        PostgreSQL: binary COPY on the session's own connection, about twice the rows/s of an
        executemany of INSERTs. SQLite: executemany, already its fastest path.
        """
        if not rows:
            return
        if self.is_sqlite:
            await session.execute(insert(table), rows)
            return
        driver = await _driver_connection(session)
        names = list(rows[0])
        dialect = self.engine.dialect
        steps = [table.c[name].type.bind_processor(dialect) for name in names]
        records = [
            tuple(
                value if step is None or value is None else step(value)
                for step, value in zip(steps, (row[name] for name in names), strict=True)
            )
            for row in rows
        ]
        await driver.copy_records_to_table(
            table.name, records=records, columns=names, schema_name=table.schema
        )

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def upgrade(self) -> None:
        """Apply Alembic migrations up to head (in a thread: Alembic drives its own loop)."""
        await asyncio.to_thread(run_migrations, self.url)

    async def close(self) -> None:
        await self.engine.dispose()


CLEANUP_GRACE_S = 5.0


async def _driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily with its first statement; a COPY sent on the
    raw connection before that would run (and commit) on its own, so one statement goes first.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not driver.is_in_transaction():
        await connection.execute(text("SELECT 1"))
    return driver


async def _finish_despite_cancel(step: Coroutine[Any, Any, None]) -> None:
    """Await `step` to its end; a cancel that arrives meanwhile is re-raised once it is done, or
    after `CLEANUP_GRACE_S` at most: a stuck database must never make a cancel hang."""
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task}, timeout=CLEANUP_GRACE_S)
        raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Ids per `IN (...)` list: well under SQLite's bound variables per statement on every build.
IN_CHUNK = 500


def in_chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """`items` in slices an `IN (...)` list can carry on every engine."""
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def alembic_config(url: str) -> Any:
    """Alembic's config for our migrations on `url` (Alembic is imported only when needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


def run_migrations(url: str, revision: str = "heads") -> None:
    from alembic import command

    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DatabaseError(f"database migration failed ({_redact(url)}): {reason}") from None


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
