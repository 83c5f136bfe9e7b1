"""API shapes of the issuer. Money is always a pair of exact strings (napu and ndau), never a
JSON number, so no client ever parses an amount through a float."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

IssueStateName = Literal[
    "detected",
    "awaiting_approval",
    "approved",
    "signing",
    "signed",
    "submitted",
    "confirmed",
    "rejected",
    "failed",
]


class Amount(BaseModel):
    napu: str = Field(description="whole napu (1 ndau = 100,000,000 napu), as a decimal string")
    ndau: str = Field(description="the same amount in ndau, exact decimal string")


class CountedAmount(Amount):
    count: int


class IssueOut(BaseModel):
    id: int
    state: IssueStateName
    mode: Literal["auto", "semi_auto"]
    symbol: str
    qty_napu: str
    qty_ndau: str
    trade_count: int
    window_start: str
    window_end: str
    first_trade_at: str
    last_trade_at: str
    sequence: int | None
    tx_hash: str | None
    block_height: int | None
    rfe_address: str | None
    created_at: str
    updated_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None
    signing_at: str | None
    signed_at: str | None
    submitted_at: str | None
    confirmed_at: str | None
    attempts: int
    resequenced: int
    last_error: str | None


class TradeOut(BaseModel):
    trade_id: str
    order_id: str
    symbol: str
    side: str
    price: str
    size: str
    notional: str | None
    qty_napu: str
    created_at: str
    create_time_ms: int


class IssueDetailOut(IssueOut):
    signed_tx: dict[str, Any] | None
    trades: list[TradeOut]


class IssueListOut(BaseModel):
    issues: list[IssueOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


class ApproveIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500, description="why (audited)")


class RejectIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500, description="why (audited, required)")


class RetryIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class StartIn(BaseModel):
    start: str = Field(
        description='"now" or an ISO-8601 time with timezone; only on the very first start',
        examples=["now", "2025-01-31T00:00:00Z"],
        max_length=64,
    )

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        """Refuse a time the cursor could not hold (outside 1970..9000 in UTC); the issuer itself
        answers 400 for text that is not "now" or an ISO-8601 time with a timezone."""
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return value
        try:
            moved = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("out of range") from None
        if not 1970 <= moved.year < 9000:
            raise ValueError("must lie between 1970 and 9000 (UTC)")
        return value


class CursorOut(BaseModel):
    cursor_at: str
    started_from: str
    started_by: str


class BitmartStatusOut(BaseModel):
    url: str
    key_file: str | None
    access_hint: str | None
    last_poll_at: float | None
    last_poll_ok_at: float | None
    last_error: str | None
    polls: int


class SignerSessionOut(BaseModel):
    session_id: str
    name: str
    identity: str
    keys: list[str]
    remote: str
    connected_at: float
    last_seen: float
    served: int
    failed: int
    pending: int


class SignerStatusOut(BaseModel):
    connected: bool
    allowed_identities: list[str]
    sessions: list[SignerSessionOut]
    rejected: int
    last_rejection: str | None


class NodeStatusOut(BaseModel):
    url: str
    status: str
    last_error: str | None
    checked_at: float | None
    rfe_address: str | None
    rfe_sequence: int | None
    validation_keys: list[str]
    total_released: Amount | None
    total_issued: Amount | None
    issuable: Amount | None


class LeaseOut(BaseModel):
    me: str
    held_by_me: bool
    holder: str | None
    token: int | None
    expires_at: str | None


class TotalsOut(BaseModel):
    by_state: dict[str, CountedAmount]
    recorded_sales: Amount
    issued: Amount
    pending: Amount
    rejected: Amount


class IssuerStatusOut(BaseModel):
    enabled: bool
    configured: bool
    running: bool
    problems: list[str]
    mode: Literal["auto", "semi_auto"]
    symbol: str
    needs_start: bool
    cursor: CursorOut | None
    bitmart: BitmartStatusOut
    signer: SignerStatusOut
    node: NodeStatusOut
    lease: LeaseOut
    totals: TotalsOut
    awaiting_approval: int
    overdue_approvals: int
    blocked: str | None
    pipeline_error: str | None


class ReconciliationOut(BaseModel):
    start: str
    end: str
    started_from: str | None = Field(description="the issuer's starting point (first start)")
    scanned_until: str | None
    complete: bool = Field(description="the issuer has scanned Bitmart up to `end`")
    recorded_sales: Amount
    trades: int
    issued: Amount
    rejected: Amount
    pending: Amount
    difference: Amount = Field(description="recorded sales minus issued")
    by_state: dict[str, CountedAmount]
    bitmart_sales: Amount | None = Field(
        description="live Bitmart total from the starting point to scanned_until (live=true)"
    )
    unrecorded: Amount | None = Field(description="live Bitmart total minus recorded sales")
