"""Tables owned by the notary: one row per notarization, each pipeline step's state inside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, UtcDateTime


class NotarizationRow(Base):
    __tablename__ = "notarizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual
    requested_by: Mapped[str] = mapped_column(String(120))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running|completed|failed
    # JSON object: step name -> {"state", "at", "detail", "error"}; see backend.notary.pipeline.
    steps: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    document: Mapped[str | None] = mapped_column(Text)  # the canonical JSON, as UTF-8 text
    hash_hex: Mapped[str | None] = mapped_column(String(66))
    signature: Mapped[str | None] = mapped_column(String(140))
    signer: Mapped[str | None] = mapped_column(String(42))
    cid: Mapped[str | None] = mapped_column(String(100))
    pin_provider: Mapped[str | None] = mapped_column(String(16))  # pinata | local
    pin_size: Mapped[int | None] = mapped_column(Integer)
    chain: Mapped[str | None] = mapped_column(String(40))  # embedded | rpc
    chain_id: Mapped[str | None] = mapped_column(String(24))
    chain_genesis: Mapped[str | None] = mapped_column(String(66))
    anchor_nonce: Mapped[int | None] = mapped_column(Integer)
    anchor_raw_tx: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    block_number: Mapped[int | None] = mapped_column(Integer)
    block_hash: Mapped[str | None] = mapped_column(String(66))
