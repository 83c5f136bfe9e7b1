"""API keys: create, list, revoke, verify.

Verification order: a TTL cache of recently verified keys (keyed by a hash of the key), a short
negative cache of bad keys, then one database row by key id and one Argon2id check off the event
loop.
Revoking a key drops its cache entries at once. Given the event bus, every revocation or change is
also published on the internal `auth.keys` channel; with `REDIS_URL` the bus carries it to every
instance, and each applies it before its next verification, so a key revoked on one instance is
refused by all of them at once. The cache TTL stays the backstop if such an event is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select, update

from backend.auth.keys import (
    cache_fingerprint,
    hash_key,
    new_key,
    parse_key,
    verify_key_hash,
)
from backend.auth.models import ApiKeyRow
from backend.auth.scopes import WRITE_SCOPES, parse_scopes
from backend.core.audit import MAX_ACTOR, AuditEntry, record_audit
from backend.core.bus import EventBus
from backend.core.cache import TTLCache
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.db import Database
from backend.core.secrets import BackendSecrets
from hashinsight_contract.common import KeyOut
from hashinsight_contract.events import KeyChanged
from hashinsight_contract.partners import KeyDetail

OWNER_TYPES = ("operator", "partner")
TIERS = ("basic", "pro", "enterprise", "operator")
MODES = ("auto", "semi_auto")
LAST_USED_RESOLUTION_S = 60.0
MAX_CONCURRENT_CHECKS = 4
# Distinct keys being checked or waiting for a check, across all callers: past this, a new key
# is answered "busy" at once rather than queued behind minutes of Argon2id work.
MAX_QUEUED_CHECKS = 32
ARGON2_NICE = 10  # the Argon2id threads' niceness, above the event loop's
# Internal bus channel of key revocations and changes (no service declares it, so no WebSocket
# client can subscribe to it); events carry only the public key id.
KEYS_CHANNEL = "auth.keys"
KEY_CHANGED = "key.changed"
# A key created to be shown once (the initial operator key) is marked pending in the transaction
# that creates it, and stays pending until whoever shows it confirms (`mark_shown`): a process
# killed between creating and printing it shows the same key on its next start.
SHOW_PENDING = "key.show_pending"
SHOWN = "key.shown"


_ARGON2_POOL: ThreadPoolExecutor | None = None


def _argon2_pool() -> ThreadPoolExecutor:
    """Argon2id checks get threads of their own, as many as may run at once: a flood of bad
    keys never fills the loop's default executor that other work (exports, DNS) waits on."""
    global _ARGON2_POOL
    if _ARGON2_POOL is None:
        _ARGON2_POOL = ThreadPoolExecutor(
            MAX_CONCURRENT_CHECKS, thread_name_prefix="argon2", initializer=_lower_priority
        )
    return _ARGON2_POOL


def _lower_priority() -> None:
    """Linux schedules threads one by one: an Argon2id thread yields the CPU to the event loop
    thread, so cached requests keep being answered while a flood of bad keys is checked."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARGON2_NICE)


class ChecksBusy(Exception):
    """Too many keys are being checked already; the caller should try again shortly."""


class KeyRequestError(Exception):
    """A key request is invalid (unknown scope, bad mode...)."""


class KeyConflict(KeyRequestError):
    """A valid request the key's state refuses (it is revoked)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the rest of the backend knows about a verified key: never the secret."""

    id: int
    key_id: str
    name: str
    owner_type: str
    owner_id: str | None
    scopes: tuple[str, ...]
    tier: str
    mode: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = None
    suspended_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def read_only(self) -> bool:
        return not (set(self.scopes) & WRITE_SCOPES)

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def actor(self) -> str:
        """Who did it, as audit rows and ``*_by`` columns store it (at most ``MAX_ACTOR``
        characters: a 120-character key name is cut, not refused by the database)."""
        head = f"key:{self.key_id}("
        room = MAX_ACTOR - len(head) - 1
        name = self.name if len(self.name) <= room else self.name[: max(room - 1, 0)] + "…"
        return f"{head}{name})"

    @property
    def needs_approval(self) -> bool:
        """Actions requested with a semi-auto key wait in the approval queue."""
        return self.mode == "semi_auto"

    def same_owner(self, other: KeyInfo) -> bool:
        return self.owner_type == other.owner_type and self.owner_id == other.owner_id

    def detail(self) -> KeyDetail:
        """The key as the API shows it (never the secret)."""
        return KeyDetail(
            key_id=self.key_id,
            name=self.name,
            owner_type=self.owner_type,
            owner_id=self.owner_id,
            scopes=list(self.scopes),
            tier=self.tier,
            mode=self.mode,
            read_only=self.read_only,
            created_at=self.created_at.isoformat(),
            expires_at=_iso(self.expires_at),
            revoked_at=_iso(self.revoked_at),
            last_used_at=_iso(self.last_used_at),
            suspended_at=_iso(self.suspended_at),
        )

    def out(self) -> KeyOut:
        """The key as `/me` and the wallet's key list show it (the detail without suspension)."""
        detail = self.detail()
        return KeyOut(**{name: getattr(detail, name) for name in KeyOut.model_fields})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        key_id=row.key_id,
        name=row.name,
        owner_type=row.owner_type,
        owner_id=row.owner_id,
        scopes=tuple(row.scopes.split()),
        tier=row.tier,
        mode=row.mode,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        suspended_at=row.suspended_at,
    )


key_info = _info  # public: build a KeyInfo from a stored row


class AuthService:
    def __init__(
        self,
        db: Database,
        secrets: BackendSecrets,
        clock: Clock = SYSTEM_CLOCK,
        cache_ttl_s: float = 60.0,
        negative_ttl_s: float = 10.0,
        bus: EventBus | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._secrets = secrets
        self._clock = clock
        self._good: TTLCache[str, KeyInfo] = TTLCache(cache_ttl_s, 10_000, clock)
        self._bad: TTLCache[str, bool] = TTLCache(negative_ttl_s, 10_000, clock)
        self._fingerprints_by_key_id: dict[str, set[str]] = {}
        self._last_used_written: dict[int, float] = {}
        # Single flight per key: a burst of connections with one uncached key costs one check.
        self._inflight: dict[str, asyncio.Future[KeyInfo | None]] = {}
        # At most this many DB lookups + Argon2id checks at once (64 MiB each, CPU-bound).
        self._checks = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)
        # Bumped by every forget: a check that raced with one does not fill the cache.
        self._generation = 0
        self._changes = (
            bus.subscribe({KEYS_CHANNEL}, maxsize=10_000, name="auth-key-cache")
            if bus is not None
            else None
        )
        self._changes_dropped = 0

    async def create_key(
        self,
        *,
        name: str,
        owner_type: str = "operator",
        owner_id: str | None = None,
        scopes: str | list[str] | tuple[str, ...] = ("read",),
        tier: str | None = None,
        mode: str = "auto",
        expires_in: timedelta | None = None,
        actor: str = "system",
        show_pending: bool = False,
    ) -> tuple[KeyInfo, str]:
        """Create a key; the full key is returned once and never stored in clear.

        `show_pending`: the key still has to be shown to someone; `unshown_keys` returns it
        (from its encrypted copy) until `mark_shown`.
        """
        if owner_type not in OWNER_TYPES:
            raise KeyRequestError(f"owner must be one of {', '.join(OWNER_TYPES)}")
        if tier is None:  # operators are never throttled like partners
            tier = "operator" if owner_type == "operator" else "basic"
        if tier not in TIERS:
            raise KeyRequestError(f"tier must be one of {', '.join(TIERS)}")
        if mode not in MODES:
            raise KeyRequestError(f"mode must be one of {', '.join(MODES)}")
        if not name.strip() or len(name) > 120:
            raise KeyRequestError("name must be 1 to 120 characters")
        try:
            scope_list = parse_scopes(scopes)
        except ValueError as exc:
            raise KeyRequestError(str(exc)) from None
        key_id, full_key = new_key()
        digest = await asyncio.to_thread(
            hash_key, full_key, self._secrets.pepper, self._secrets.hasher
        )
        now = self._clock.now()
        row = ApiKeyRow(
            key_id=key_id,
            name=name.strip(),
            owner_type=owner_type,
            owner_id=owner_id,
            scopes=" ".join(scope_list),
            tier=tier,
            mode=mode,
            secret_hash=digest,
            secret_encrypted=self._secrets.fernet.encrypt(full_key.encode()),
            created_at=now,
            created_by=actor,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            record_audit(
                session,
                actor=actor,
                action="key.create",
                target=key_id,
                detail={"name": row.name, "scopes": list(scope_list), "owner": owner_type},
            )
            if show_pending:
                record_audit(session, actor=actor, action=SHOW_PENDING, target=key_id)
            info = _info(row)
        return info, full_key

    async def unshown_keys(self) -> list[tuple[KeyInfo, str]]:
        """Usable keys created with `show_pending` and never confirmed shown, with their value."""
        pending = select(AuditEntry.target).where(AuditEntry.action == SHOW_PENDING)
        shown = select(AuditEntry.target).where(AuditEntry.action == SHOWN)
        async with self._db.session() as session:
            rows = list(
                await session.scalars(
                    select(ApiKeyRow)
                    .where(
                        ApiKeyRow.key_id.in_(pending),
                        ApiKeyRow.key_id.not_in(shown),
                        ApiKeyRow.revoked_at.is_(None),
                    )
                    .order_by(ApiKeyRow.id)
                )
            )
        found: list[tuple[KeyInfo, str]] = []
        for row in rows:
            info = _info(row)
            if not self._usable(info):
                continue
            try:
                found.append((info, self._secrets.fernet.decrypt(row.secret_encrypted).decode()))
            except InvalidToken:  # encrypted under another Fernet key: cannot be shown
                continue
        return found

    async def mark_shown(self, key_id: str, *, actor: str = "system") -> None:
        """Confirm a pending key reached its reader: no later `unshown_keys` returns it."""
        async with self._db.session() as session:
            record_audit(session, actor=actor, action=SHOWN, target=key_id)

    async def list_keys(self, include_revoked: bool = False) -> list[KeyInfo]:
        async with self._db.session() as session:
            query = select(ApiKeyRow).order_by(ApiKeyRow.id)
            if not include_revoked:
                query = query.where(ApiKeyRow.revoked_at.is_(None))
            return [_info(row) for row in await session.scalars(query)]

    async def get(self, key_id: str) -> KeyInfo | None:
        async with self._db.session() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
            return _info(row) if row else None

    async def revoke(
        self, key_id: str, *, actor: str = "system", source: str | None = None
    ) -> bool:
        """Revoke a key; it stops working at once, for that key only."""
        async with self._db.session() as session:
            result = await session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
            done = bool(result.rowcount)  # type: ignore[attr-defined]
            if done:
                record_audit(
                    session, actor=actor, action="key.revoke", target=key_id, source=source
                )
        self.forget(key_id)
        return done

    def forget(self, key_id: str) -> None:
        """Drop a key's cache entries here and, through the bus, in every other instance."""
        self._forget_local(key_id)
        if self._bus is not None:
            self._bus.emit(KEY_CHANGED, KeyChanged(key_id=key_id))

    def _forget_local(self, key_id: str) -> None:
        self._generation += 1
        for fingerprint in self._fingerprints_by_key_id.pop(key_id, set()):
            self._good.delete(fingerprint)
            self._bad.delete(fingerprint)  # a resumed key must not stay refused

    def _apply_changes(self) -> None:
        """Apply the key changes other instances (and this one) announced since the last call."""
        if self._changes is None:
            return
        for event in self._changes.poll():
            key_id = event.data.get("key_id")
            if isinstance(key_id, str):
                self._forget_local(key_id)
        if self._changes.dropped != self._changes_dropped:  # lost some: trust nothing cached
            self._changes_dropped = self._changes.dropped
            self._generation += 1
            self._good.clear()
            self._bad.clear()
            self._fingerprints_by_key_id.clear()

    async def verify(self, full_key: str) -> KeyInfo | None:
        """The key's info if it is valid, unexpired and unrevoked; else None. Raises
        `ChecksBusy` when the key needs a check and too many are pending already."""
        self._apply_changes()
        fingerprint = cache_fingerprint(full_key)
        cached = self._good.get(fingerprint)
        if cached is not None and self._usable(cached):
            await self._touch(cached)
            return cached
        if self._bad.get(fingerprint):
            return None
        task = self._inflight.get(fingerprint)
        if task is None and len(self._inflight) >= MAX_QUEUED_CHECKS:
            raise ChecksBusy
        if task is None:  # the check runs as its own task: a cancelled caller cannot abort it
            task = asyncio.ensure_future(self._verify_uncached(full_key, fingerprint))
            self._inflight[fingerprint] = task
            task.add_done_callback(lambda _t: self._inflight.pop(fingerprint, None))
        return await asyncio.shield(task)

    def needs_check(self, full_key: str) -> bool:
        """Whether verifying this key would start a new database + Argon2id check (neither
        cached, good or bad, nor already being checked)."""
        self._apply_changes()
        fingerprint = cache_fingerprint(full_key)
        cached = self._good.get(fingerprint)
        if cached is not None and self._usable(cached):
            return False
        return not self._bad.get(fingerprint) and fingerprint not in self._inflight

    async def _verify_uncached(self, full_key: str, fingerprint: str) -> KeyInfo | None:
        parsed = parse_key(full_key)
        generation = self._generation
        row = None
        ok = False
        async with self._checks:
            if parsed is not None:
                async with self._db.session() as session:
                    row = await session.scalar(
                        select(ApiKeyRow).where(ApiKeyRow.key_id == parsed.key_id)
                    )
            ok = row is not None and await asyncio.get_running_loop().run_in_executor(
                _argon2_pool(),
                verify_key_hash,
                row.secret_hash,
                full_key,
                self._secrets.pepper,
                self._secrets.hasher,
            )
        self._apply_changes()
        # A key changed while this check ran: answer from what was read, but cache nothing.
        cacheable = generation == self._generation
        if not ok or row is None:
            if cacheable:
                self._bad.set(fingerprint, True)
            return None
        info = _info(row)
        if not self._usable(info):
            if cacheable:
                self._bad.set(fingerprint, True)
                self._fingerprints_by_key_id.setdefault(info.key_id, set()).add(fingerprint)
            return None
        if cacheable:
            self._good.set(fingerprint, info)
            self._fingerprints_by_key_id.setdefault(info.key_id, set()).add(fingerprint)
        await self._touch(info)
        return info

    def _usable(self, info: KeyInfo) -> bool:
        if info.revoked_at is not None or info.suspended_at is not None:
            return False
        return info.expires_at is None or info.expires_at > self._clock.now()

    async def _touch(self, info: KeyInfo) -> None:
        """Record last use, at most once a minute per key so reads don't become writes."""
        now = self._clock.monotonic()
        if now - self._last_used_written.get(info.id, -1e9) < LAST_USED_RESOLUTION_S:
            return
        self._last_used_written[info.id] = now
        async with self._db.session() as session:
            await session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == info.id)
                .values(last_used_at=self._clock.now())
            )

    async def update(
        self,
        key_id: str,
        *,
        actor: str = "system",
        source: str | None = None,
        mode: str | None = None,
        tier: str | None = None,
        name: str | None = None,
        scopes: str | list[str] | tuple[str, ...] | None = None,
    ) -> KeyInfo | None:
        """Change a key's mode, tier, name or scopes; the change applies to its next request."""
        values: dict[str, Any] = {}
        if mode is not None:
            if mode not in MODES:
                raise KeyRequestError(f"mode must be one of {', '.join(MODES)}")
            values["mode"] = mode
        if tier is not None:
            if tier not in TIERS:
                raise KeyRequestError(f"tier must be one of {', '.join(TIERS)}")
            values["tier"] = tier
        if name is not None:
            if not name.strip() or len(name) > 120:
                raise KeyRequestError("name must be 1 to 120 characters")
            values["name"] = name.strip()
        if scopes is not None:
            try:
                values["scopes"] = " ".join(parse_scopes(scopes))
            except ValueError as exc:
                raise KeyRequestError(str(exc)) from None
        async with self._db.session() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
            if row is None:
                return None
            if row.revoked_at is not None:
                raise KeyConflict("this key is revoked and cannot be changed")
            changed = {k: v for k, v in values.items() if getattr(row, k) != v}
            for column, value in changed.items():
                setattr(row, column, value)
            if changed:
                record_audit(
                    session,
                    actor=actor,
                    action="key.update",
                    target=key_id,
                    source=source,
                    detail={k: v for k, v in changed.items()},
                )
            info = _info(row)
        self.forget(key_id)
        return info

    async def set_mode(self, key_id: str, mode: str, *, actor: str = "system") -> KeyInfo | None:
        return await self.update(key_id, mode=mode, actor=actor)

    async def list_owner_keys(self, owner_id: str, include_revoked: bool = False) -> list[KeyInfo]:
        async with self._db.session() as session:
            query = select(ApiKeyRow).where(ApiKeyRow.owner_id == owner_id).order_by(ApiKeyRow.id)
            if not include_revoked:
                query = query.where(ApiKeyRow.revoked_at.is_(None))
            return [_info(row) for row in await session.scalars(query)]

    async def suspend_owner(self, session: Any, owner_id: str, suspended: bool) -> list[str]:
        """Suspend or resume every key of an owner inside the caller's transaction."""
        rows = list(
            await session.scalars(
                select(ApiKeyRow).where(
                    ApiKeyRow.owner_id == owner_id, ApiKeyRow.revoked_at.is_(None)
                )
            )
        )
        for row in rows:
            row.suspended_at = self._clock.now() if suspended else None
        return [row.key_id for row in rows]

    async def revoke_owner(self, session: Any, owner_id: str) -> list[str]:
        """Revoke every key of an owner inside the caller's transaction."""
        rows = list(
            await session.scalars(
                select(ApiKeyRow).where(
                    ApiKeyRow.owner_id == owner_id, ApiKeyRow.revoked_at.is_(None)
                )
            )
        )
        for row in rows:
            row.revoked_at = self._clock.now()
        return [row.key_id for row in rows]

    def encrypt(self, value: str) -> bytes:
        return self._secrets.fernet.encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        return self._secrets.fernet.decrypt(token).decode()

    async def reveal(self, key_id: str) -> str | None:
        """Decrypt the stored copy of a key for its owner."""
        async with self._db.session() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
        if row is None or row.revoked_at is not None:
            return None
        return self._secrets.fernet.decrypt(row.secret_encrypted).decode()
