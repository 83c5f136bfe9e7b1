"""Partners: who they are, their tier, their keys and their webhook signing secret.

Registering a partner creates the partner row with its signing secret, then its first API key.
Suspending a partner refuses its keys at once (they are not revoked, so resuming restores them);
deleting revokes them for good.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from backend.auth.models import ApiKeyRow, PartnerRow
from backend.auth.scopes import parse_scopes
from backend.auth.service import AuthService, KeyInfo, KeyRequestError
from backend.auth.tiers import DEFAULT_PARTNER_SCOPES, PARTNER_TIER_NAMES
from backend.core.audit import record_audit
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.db import Database
from hashinsight_contract.partners import PartnerOut

SECRET_PREFIX = "whsec_"
STATUSES = ("active", "suspended", "deleted")
INTEGRATION_TYPES = ("dashboard", "explorer", "alerting", "analytics", "trading", "other")
PARTNER_SCOPES = frozenset({"read", "stream", "export", "fleet:control", "issuer:approve"})


class PartnerError(Exception):
    """A partner request is invalid; the message says why."""


class PartnerNotFound(PartnerError):
    pass


class PartnerConflict(PartnerError):
    """The partner's state forbids this (suspended, deleted)."""


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_partner_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "ptn_" + "".join(secrets.choice(alphabet) for _ in range(12))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def partner_view(row: PartnerRow, key_count: int | None = None) -> PartnerOut:
    return PartnerOut(
        partner_id=row.partner_id,
        name=row.name,
        description=row.description,
        website=row.website,
        contact=row.contact,
        integration_type=row.integration_type,
        tier=row.tier,
        status=row.status,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        suspended_at=_iso(row.suspended_at),
        deleted_at=_iso(row.deleted_at),
        active_keys=key_count,
    )


class Partners:
    def __init__(self, db: Database, auth: AuthService, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._auth = auth
        self._clock = clock

    async def register(
        self,
        *,
        name: str,
        description: str | None = None,
        website: str | None = None,
        contact: str | None = None,
        integration_type: str | None = None,
        tier: str = "basic",
        scopes: list[str] | None = None,
        mode: str = "auto",
        actor: str = "system",
        source: str | None = None,
    ) -> tuple[PartnerOut, KeyInfo, str, str]:
        """(partner, key info, full key, signing secret); key and secret are shown once."""
        if tier not in PARTNER_TIER_NAMES:
            raise PartnerError(f"tier must be one of {', '.join(PARTNER_TIER_NAMES)}")
        if not name.strip() or len(name) > 120:
            raise PartnerError("name must be 1 to 120 characters")
        scope_list = self._partner_scopes(scopes, tier)
        secret = new_signing_secret()
        now = self._clock.now()
        row = PartnerRow(
            partner_id=new_partner_id(),
            name=name.strip(),
            description=description,
            website=website,
            contact=contact,
            integration_type=integration_type,
            tier=tier,
            status="active",
            secret_encrypted=self._auth.encrypt(secret),
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            record_audit(
                session,
                actor=actor,
                action="partner.register",
                target=row.partner_id,
                source=source,
                detail={"name": row.name, "tier": tier},
            )
            view = partner_view(row, 1)
        try:
            info, full_key = await self._auth.create_key(
                name=default_key_name(row.name),
                owner_type="partner",
                owner_id=row.partner_id,
                scopes=scope_list,
                tier=tier,
                mode=mode,
                actor=actor,
            )
        except KeyRequestError as exc:
            raise PartnerError(str(exc)) from None
        return view, info, full_key, secret

    def _partner_scopes(self, scopes: list[str] | None, tier: str) -> tuple[str, ...]:
        if scopes is None:
            return DEFAULT_PARTNER_SCOPES[tier]
        try:
            parsed = parse_scopes(scopes)
        except ValueError as exc:
            raise PartnerError(str(exc)) from None
        extra = sorted(set(parsed) - PARTNER_SCOPES)
        if extra:
            raise PartnerError(f"partner keys cannot hold the {extra[0]!r} scope")
        return parsed

    async def create_key(
        self,
        partner_id: str,
        *,
        name: str | None = None,
        scopes: list[str] | None = None,
        mode: str = "auto",
        actor: str = "system",
    ) -> tuple[KeyInfo, str]:
        row = await self._row(partner_id)
        if row.status != "active":
            raise PartnerConflict(f"partner {partner_id} is {row.status}")
        try:
            return await self._auth.create_key(
                name=name or default_key_name(row.name),
                owner_type="partner",
                owner_id=partner_id,
                scopes=self._partner_scopes(scopes, row.tier),
                tier=row.tier,
                mode=mode,
                actor=actor,
            )
        except KeyRequestError as exc:
            raise PartnerError(str(exc)) from None

    async def _row(self, partner_id: str) -> PartnerRow:
        async with self._db.session() as session:
            row = await session.scalar(
                select(PartnerRow).where(PartnerRow.partner_id == partner_id)
            )
        if row is None:
            raise PartnerNotFound(f"no partner {partner_id}")
        return row

    async def get(self, partner_id: str) -> PartnerOut:
        row = await self._row(partner_id)
        keys = await self._auth.list_owner_keys(partner_id)
        return partner_view(row, len(keys))

    async def exists_active(self, partner_id: str) -> bool:
        try:
            return (await self._row(partner_id)).status == "active"
        except PartnerNotFound:
            return False

    async def list(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[PartnerOut], int]:
        async with self._db.session() as session:
            query = select(PartnerRow)
            count = select(func.count()).select_from(PartnerRow)
            if status:
                query = query.where(PartnerRow.status == status)
                count = count.where(PartnerRow.status == status)
            total = int(await session.scalar(count) or 0)
            rows = list(
                await session.scalars(query.order_by(PartnerRow.id).limit(limit).offset(offset))
            )
            ids = [row.partner_id for row in rows]
            counts: dict[str, int] = {}
            if ids:
                result = await session.execute(
                    select(ApiKeyRow.owner_id, func.count())
                    .where(ApiKeyRow.owner_id.in_(ids), ApiKeyRow.revoked_at.is_(None))
                    .group_by(ApiKeyRow.owner_id)
                )
                counts = {str(owner): int(n) for owner, n in result.all()}
        return [partner_view(row, counts.get(row.partner_id, 0)) for row in rows], total

    async def update(self, partner_id: str, *, actor: str = "system", **fields: Any) -> PartnerOut:
        """Change descriptive fields or the tier (the tier applies to every key at once)."""
        allowed = {"name", "description", "website", "contact", "integration_type", "tier"}
        values = {k: v for k, v in fields.items() if k in allowed and v is not None}
        if "tier" in values and values["tier"] not in PARTNER_TIER_NAMES:
            raise PartnerError(f"tier must be one of {', '.join(PARTNER_TIER_NAMES)}")
        touched: list[str] = []
        async with self._db.session() as session:
            row = await session.scalar(
                select(PartnerRow).where(PartnerRow.partner_id == partner_id)
            )
            if row is None:
                raise PartnerNotFound(f"no partner {partner_id}")
            if row.status == "deleted":
                raise PartnerConflict(f"partner {partner_id} is deleted")
            changed = {k: v for k, v in values.items() if getattr(row, k) != v}
            for column, value in changed.items():
                setattr(row, column, value)
            if changed:
                row.updated_at = self._clock.now()
                if "tier" in changed:
                    keys = await session.scalars(
                        select(ApiKeyRow).where(
                            ApiKeyRow.owner_id == partner_id, ApiKeyRow.revoked_at.is_(None)
                        )
                    )
                    for key in keys:
                        key.tier = changed["tier"]
                        touched.append(key.key_id)
                record_audit(
                    session, actor=actor, action="partner.update", target=partner_id, detail=changed
                )
            view = partner_view(row)
        for key_id in touched:
            self._auth.forget(key_id)
        return view

    async def set_status(
        self, partner_id: str, status: str, *, actor: str = "system"
    ) -> PartnerOut:
        """Suspend, resume (status active) or delete a partner; keys follow at once."""
        if status not in STATUSES:
            raise PartnerError(f"status must be one of {', '.join(STATUSES)}")
        async with self._db.session() as session:
            row = await session.scalar(
                select(PartnerRow).where(PartnerRow.partner_id == partner_id)
            )
            if row is None:
                raise PartnerNotFound(f"no partner {partner_id}")
            if row.status == "deleted":
                raise PartnerConflict(f"partner {partner_id} is deleted")
            now = self._clock.now()
            if status == "deleted":
                key_ids = await self._auth.revoke_owner(session, partner_id)
                row.deleted_at = now
            else:
                key_ids = await self._auth.suspend_owner(session, partner_id, status == "suspended")
                row.suspended_at = now if status == "suspended" else None
            row.status = status
            row.updated_at = now
            action = {"active": "resume", "suspended": "suspend", "deleted": "delete"}[status]
            record_audit(
                session,
                actor=actor,
                action=f"partner.{action}",
                target=partner_id,
                detail={"keys": len(key_ids)},
            )
            view = partner_view(row, 0 if status == "deleted" else len(key_ids))
        for key_id in key_ids:
            self._auth.forget(key_id)
        return view

    async def signing_secret(self, partner_id: str) -> str:
        row = await self._row(partner_id)
        return self._auth.decrypt(row.secret_encrypted)

    async def rotate_secret(self, partner_id: str, *, actor: str = "system") -> str:
        secret = new_signing_secret()
        async with self._db.session() as session:
            row = await session.scalar(
                select(PartnerRow).where(PartnerRow.partner_id == partner_id)
            )
            if row is None:
                raise PartnerNotFound(f"no partner {partner_id}")
            if row.status == "deleted":  # nothing is signed for it any more
                raise PartnerConflict(f"partner {partner_id} is deleted")
            row.secret_encrypted = self._auth.encrypt(secret)
            row.updated_at = self._clock.now()
            record_audit(session, actor=actor, action="partner.secret_rotate", target=partner_id)
        return secret


def default_key_name(partner_name: str) -> str:
    """A partner's key named after it, within a key name's 120 characters (a partner's name
    may take all of them)."""
    return f"{partner_name[:116]} key"
