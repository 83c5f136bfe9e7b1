"""The audit trail: every state change that matters writes who, what, when and from where."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Base, UtcDateTime

MAX_ACTOR = 120  # the actor columns' width (audit rows, the *_by columns of the features)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(MAX_ACTOR))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[str | None] = mapped_column(Text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "source": self.source,
            "detail": json.loads(self.detail) if self.detail else None,
        }


def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    source: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit row to the caller's transaction, so it commits or rolls back with the change."""
    entry = AuditEntry(
        at=SYSTEM_CLOCK.now(),
        actor=actor,
        action=action,
        target=target,
        source=source,
        detail=json.dumps(detail, sort_keys=True) if detail else None,
    )
    session.add(entry)
    return entry


async def recent_audit(session: AsyncSession, limit: int = 100) -> list[AuditEntry]:
    result = await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return list(result)
