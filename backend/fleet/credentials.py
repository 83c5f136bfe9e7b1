"""Control credentials per site or per miner, Fernet-encrypted, never shown or logged.

A miner's credentials for one kind of access resolve miner first, then its site, then the
firmware's factory default (stock Antminer web: root/root; LuxOS: a logon without password),
which is labelled as such wherever it is shown. Passwords are encrypted with the backend's
Fernet key (the one that encrypts API keys, ``backend/core/secrets.py``); a row written under
another key cannot be decrypted and says so instead of being sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select

from backend.core.audit import record_audit
from backend.core.db import Database
from backend.fleet.models import FleetCredentialRow
from hashinsight_contract.fleet import CredentialOut

# Which accesses exist: one kind per control driver's login (``backend/fleet/drivers``).
KINDS = ("web", "luxos", "whatsminer", "braiins", "vnish")
SCOPES = ("site", "miner")
MASK = "********"
MAX_PASSWORD = 256
DEFAULT_WEB_PORT = 80
CACHE_S = 10.0  # the CLI writes the table directly: a running backend sees it within this
FACTORY_DEFAULTS: dict[str, tuple[str | None, str | None]] = {
    "web": ("root", "root"),  # stock Antminer's digest login
    "luxos": (None, None),  # LuxOS: logon without a password unless one was configured
    "whatsminer": ("admin", "admin"),
    "braiins": ("root", None),  # Braiins OS gRPC Login: root without a password
    "vnish": (None, "admin"),  # Vnish web API: a password only (its unlock screen)
}


class CredentialError(ValueError):
    """A credential request that cannot be stored (unknown kind, empty target, ...)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """What a driver uses for one miner and kind; ``source`` says where it came from."""

    kind: str
    username: str | None
    password: str | None = None
    port: int | None = None
    source: str = "factory default"  # "miner <id>" | "site <name>" | "factory default"
    error: str | None = None  # set when a stored password cannot be decrypted

    @property
    def is_default(self) -> bool:
        return self.source == "factory default"

    @property
    def fingerprint(self) -> str:
        """Changes whenever the credential changes: a remembered refusal is then forgotten."""
        raw = f"{self.source}\0{self.username}\0{self.password}".encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def __repr__(self) -> str:  # never print the password, even in a traceback
        return (
            f"Credential(kind={self.kind!r}, username={self.username!r}, password=<hidden>, "
            f"port={self.port!r}, source={self.source!r})"
        )


def default_credential(kind: str) -> Credential:
    user, password = FACTORY_DEFAULTS.get(kind, (None, None))
    return Credential(kind, user, password)


class CredentialStore:
    """Reads and writes ``fleet_credentials``; the Fernet is loaded on first use."""

    def __init__(self, db: Database, fernet: Fernet | None = None, settings: Any = None) -> None:
        self.db = db
        self._fernet = fernet
        self._settings = settings
        # (scope, target, kind) -> row view; reloaded after each write by this process
        self._cache: dict[tuple[str, str, str], dict[str, Any]] | None = None
        self._loaded_at = 0.0

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            raise CredentialError("no Fernet key loaded to encrypt credentials")
        return self._fernet

    async def _load_fernet(self) -> None:
        """The backend's Fernet key, read from its secret file off the event loop."""
        if self._fernet is not None:
            return
        if self._settings is None:
            raise CredentialError("no Fernet key available to encrypt credentials")
        from backend.core.secrets import load_backend_secrets

        secrets = await asyncio.to_thread(load_backend_secrets, self._settings)
        self._fernet = secrets.fernet

    async def set(
        self,
        *,
        scope: str,
        target: str,
        kind: str,
        username: str | None,
        password: str | None,
        port: int | None,
        actor: str,
        now: datetime,
        source: str | None = None,
    ) -> CredentialOut:
        """Create or replace one credential; the audit row says who, never the secret."""
        _check(scope, target, kind)
        if password is not None and not 0 < len(password) <= MAX_PASSWORD:
            raise CredentialError(f"password must be 1-{MAX_PASSWORD} characters")
        if username is not None and not 0 < len(username) <= 120:
            raise CredentialError("user must be 1-120 characters")
        if port is not None and not 1 <= port <= 65535:
            raise CredentialError("port must be 1-65535")
        if username is None and password is None and port is None:
            raise CredentialError("nothing to store: give a user, a password or a port")
        await self._load_fernet()
        secret = self.fernet.encrypt(password.encode()) if password is not None else None
        async with self.db.session() as session:
            row = await session.scalar(
                select(FleetCredentialRow).where(
                    FleetCredentialRow.scope == scope,
                    FleetCredentialRow.target == target,
                    FleetCredentialRow.kind == kind,
                )
            )
            if row is None:
                row = FleetCredentialRow(scope=scope, target=target, kind=kind)
                session.add(row)
            row.username, row.secret_encrypted, row.port = username, secret, port
            row.updated_at, row.updated_by = now, actor
            record_audit(
                session,
                actor=actor,
                action="fleet.credentials.set",
                target=f"{scope}:{target}",
                source=source,
                detail={"kind": kind, "user": username, "password_set": password is not None},
            )
        self._cache = None
        return _view(row)

    async def remove(
        self, *, scope: str, target: str, kind: str, actor: str, source: str | None = None
    ) -> bool:
        _check(scope, target, kind)
        async with self.db.session() as session:
            result = await session.execute(
                delete(FleetCredentialRow).where(
                    FleetCredentialRow.scope == scope,
                    FleetCredentialRow.target == target,
                    FleetCredentialRow.kind == kind,
                )
            )
            removed = bool(getattr(result, "rowcount", 0))
            if removed:
                record_audit(
                    session,
                    actor=actor,
                    action="fleet.credentials.remove",
                    target=f"{scope}:{target}",
                    source=source,
                    detail={"kind": kind},
                )
        self._cache = None
        return removed

    async def list(self) -> list[CredentialOut]:
        """Every stored credential, masked."""
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(FleetCredentialRow).order_by(
                        FleetCredentialRow.scope, FleetCredentialRow.target, FleetCredentialRow.kind
                    )
                )
            ).all()
        return [_view(row) for row in rows]

    async def resolve(self, miner_id: str, site: str | None, kind: str) -> Credential:
        """The credential a driver uses: the miner's, else its site's, else the factory one."""
        rows = await self._rows()
        found = rows.get(("miner", miner_id, kind))
        if found is None and site:
            found = rows.get(("site", site, kind))
        default = default_credential(kind)
        if found is None:
            return default
        source = f"{found['scope']} {found['target']}"
        password, error = default.password, None
        if found["secret"] is not None:
            await self._load_fernet()
            try:
                password = self.fernet.decrypt(found["secret"]).decode()
            except InvalidToken:
                password = None
                error = (
                    f"the stored {kind} password ({source}) cannot be decrypted with this "
                    "backend's Fernet key; set it again"
                )
        username = found["username"] if found["username"] is not None else default.username
        return Credential(kind, username, password, found["port"], source, error)

    async def _rows(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        if self._cache is None or time.monotonic() - self._loaded_at > CACHE_S:
            async with self.db.session() as session:
                rows = (await session.scalars(select(FleetCredentialRow))).all()
            self._cache = {
                (r.scope, r.target, r.kind): {
                    "scope": r.scope,
                    "target": r.target,
                    "username": r.username,
                    "secret": r.secret_encrypted,
                    "port": r.port,
                }
                for r in rows
            }
            self._loaded_at = time.monotonic()
        return self._cache

    def forget_cache(self) -> None:
        """Read the table again on next use (another process may have changed it)."""
        self._cache = None


def _check(scope: str, target: str, kind: str) -> None:
    if scope not in SCOPES:
        raise CredentialError(f"scope must be one of {', '.join(SCOPES)}")
    if not target or len(target) > 200:
        raise CredentialError("the site name or miner id must be 1-200 characters")
    if kind not in KINDS:
        raise CredentialError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


def _view(row: FleetCredentialRow) -> CredentialOut:
    return CredentialOut(
        scope=row.scope,
        target=row.target,
        kind=row.kind,
        user=row.username,
        password=MASK if row.secret_encrypted is not None else None,
        port=row.port,
        updated_at=row.updated_at.timestamp(),
        updated_by=row.updated_by,
    )
