"""`hashinsight db upgrade`: apply the schema migrations."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from backend.cli.errors import with_settings
from backend.cli.group import OrderedGroup

if TYPE_CHECKING:
    from backend.settings import Settings


@click.group("db", cls=OrderedGroup, help="database")
def db() -> None:
    pass


@db.command("upgrade", help="apply schema migrations")
@with_settings()
def upgrade(settings: Settings) -> int:
    return asyncio.run(_upgrade(settings))


async def _upgrade(settings: Settings) -> int:
    from backend.core.db import Database

    database = Database(settings.effective_database_url)
    try:
        await database.upgrade()
    finally:
        await database.close()
    print("database is at the latest schema")
    return 0
