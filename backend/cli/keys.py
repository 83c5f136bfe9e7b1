"""`hashinsight keys`: API keys on the local database (create, list, revoke, rotate-secrets)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from backend.cli.errors import fail, with_settings
from backend.cli.group import OrderedGroup

if TYPE_CHECKING:
    from backend.core.db import Database
    from backend.settings import Settings


@click.group("keys", cls=OrderedGroup, help="API keys on the local database")
def keys() -> None:
    pass


@keys.command("create", help="create a key (shown once)")
@click.option("--name", required=True)
@click.option("--owner", type=click.Choice(["operator", "partner"]), default="operator")
@click.option("--partner-id", default=None)
@click.option(
    "--scopes",
    default=None,
    help="comma-separated scopes (default: all for operators, read,stream for partners)",
)
@click.option("--tier", type=click.Choice(["basic", "pro", "enterprise", "operator"]), default=None)
@click.option("--mode", type=click.Choice(["auto", "semi_auto"]), default="auto")
@click.option("--expires-days", type=float, default=None)
@with_settings()
def create(
    settings: Settings,
    name: str,
    owner: str,
    partner_id: str | None,
    scopes: str | None,
    tier: str | None,
    mode: str,
    expires_days: float | None,
) -> int:
    async def run() -> int:
        from backend.auth.scopes import OPERATOR_SCOPES, READ_ONLY_SCOPES
        from backend.auth.service import AuthService, KeyRequestError
        from backend.core.secrets import load_backend_secrets

        async with _upgraded_database(settings) as db:
            auth = AuthService(db, load_backend_secrets(settings))
            default_scopes = OPERATOR_SCOPES if owner == "operator" else READ_ONLY_SCOPES
            try:
                info, full_key = await auth.create_key(
                    name=name,
                    owner_type=owner,
                    owner_id=partner_id,
                    scopes=scopes or default_scopes,
                    tier=tier or ("operator" if owner == "operator" else "basic"),
                    mode=mode,
                    expires_in=timedelta(days=expires_days) if expires_days else None,
                    actor="cli",
                )
            except KeyRequestError as exc:
                return fail(exc)
        print(f"key id:  {info.key_id}")
        print(f"scopes:  {' '.join(info.scopes)}")
        print(f"API key (shown once): {full_key}")
        return 0

    return asyncio.run(run())


@keys.command("list", help="list keys")
@click.option("--all", "include_revoked", is_flag=True, help="include revoked keys")
@with_settings()
def list_keys(settings: Settings, include_revoked: bool) -> int:
    async def run() -> int:
        from backend.auth.service import AuthService
        from backend.core.secrets import load_backend_secrets

        async with _upgraded_database(settings) as db:
            auth = AuthService(db, load_backend_secrets(settings))
            rows = await auth.list_keys(include_revoked=include_revoked)
        print(f"{'KEY ID':<14}{'NAME':<24}{'OWNER':<10}{'MODE':<10}{'EXPIRES':<22}SCOPES")
        for key in rows:
            expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "never"
            state = " (revoked)" if key.revoked_at else ""
            print(
                f"{key.key_id:<14}{key.name[:23]:<24}{key.owner_type:<10}{key.mode:<10}"
                f"{expires:<22}{' '.join(key.scopes)}{state}"
            )
        return 0

    return asyncio.run(run())


@keys.command("revoke", help="revoke a key by its id")
@click.argument("key_id")
@with_settings()
def revoke(settings: Settings, key_id: str) -> int:
    async def run() -> int:
        async with _upgraded_database(settings) as db:
            return await _revoke_key(settings, db, key_id)

    return asyncio.run(run())


@keys.command(
    "rotate-secrets",
    help="new pepper and/or Fernet key; every key keeps working (backend stopped)",
)
@click.option("--pepper", is_flag=True, help="rotate the API-key pepper")
@click.option("--fernet", is_flag=True, help="rotate the Fernet key")
@with_settings()
def rotate_secrets(settings: Settings, pepper: bool, fernet: bool) -> int:
    from backend.auth.rotate import run

    return run(settings, pepper=pepper, fernet=fernet)


@asynccontextmanager
async def _upgraded_database(settings: Settings) -> AsyncIterator[Database]:
    """The local database at the latest schema, closed on the way out."""
    from backend.core.db import Database

    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        yield db
    finally:
        await db.close()


async def _revoke_key(settings: Settings, db: Database, key_id: str) -> int:
    """Revoke in the database and, with `REDIS_URL`, tell every running instance at once (the
    same `auth.keys` event the API's revoke publishes), so none accepts the key from its cache."""
    from backend.auth.service import AuthService
    from backend.core.redis_bridge import bus_to_instances
    from backend.core.secrets import load_backend_secrets

    async with bus_to_instances(settings.redis_url) as bus:
        auth = AuthService(db, load_backend_secrets(settings), bus=bus)
        if not await auth.revoke(key_id, actor="cli"):
            return fail(f"no active key with id {key_id}", code=1)
    print(f"revoked {key_id}")
    if settings.redis_url and bus is None:
        print(
            "hashinsight: Redis unreachable: running instances may accept the key for up to "
            "one more minute (their key cache lifetime)",
            file=sys.stderr,
        )
    return 0
