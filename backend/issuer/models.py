"""Tables owned by the issuer: issues, the trades each one covers, the Bitmart cursor.

Amounts are stored as whole napu (BigInteger) and Bitmart's decimal strings exactly as received;
nothing here is ever a float.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, UtcDateTime


class IssueRow(Base):
    """One Issue transaction for one batch of Bitmart sell trades, and where it stands."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    qty_napu: Mapped[int] = mapped_column(BigInteger)
    trade_count: Mapped[int] = mapped_column(Integer)
    window_start_ms: Mapped[int] = mapped_column(BigInteger)
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    first_trade_ms: Mapped[int] = mapped_column(BigInteger)
    last_trade_ms: Mapped[int] = mapped_column(BigInteger)
    # Fixed when signing starts and never changed while the tx might still land.
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    signed_tx: Mapped[str | None] = mapped_column(Text)
    rfe_address: Mapped[str | None] = mapped_column(String(80))
    block_height: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    signing_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    resequenced: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_token: Mapped[int | None] = mapped_column(BigInteger)


class IssueTradeRow(Base):
    """A Bitmart sell trade; its primary key makes it impossible to count one trade twice."""

    __tablename__ = "issue_trades"

    trade_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(40))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[str] = mapped_column(String(64))
    size: Mapped[str] = mapped_column(String(64))
    notional: Mapped[str | None] = mapped_column(String(64))
    qty_napu: Mapped[int] = mapped_column(BigInteger)
    create_time_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class IssuerCursorRow(Base):
    """How far the Bitmart trade history has been turned into issues (exclusive, in ms)."""

    __tablename__ = "issuer_cursor"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    cursor_ms: Mapped[int] = mapped_column(BigInteger)
    started_from_ms: Mapped[int] = mapped_column(BigInteger)
    started_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
