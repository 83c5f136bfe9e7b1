"""Tables owned by the auth service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, UtcDateTime


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    owner_type: Mapped[str] = mapped_column(String(16))  # operator | partner
    owner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scopes: Mapped[str] = mapped_column(Text)  # space separated
    tier: Mapped[str] = mapped_column(String(16), default="basic")
    mode: Mapped[str] = mapped_column(String(16), default="auto")  # auto | semi_auto
    secret_hash: Mapped[str] = mapped_column(String(255))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(120))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
