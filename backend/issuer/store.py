"""Durable issuer state: every change is one transaction, written before the external step it
enables, fenced by the lease when the issuer engine makes it, audited, then published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from backend.core.audit import record_audit
from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.core.db import Database, in_chunks
from backend.issuer.bitmart import Trade
from backend.issuer.lease import Lease
from backend.issuer.models import IssuerCursorRow, IssueRow, IssueTradeRow
from backend.issuer.states import IN_FLIGHT, IssueState, can_move
from backend.ndau.tx import napu_to_ndau
from hashinsight_contract.events import IssuerStarted
from hashinsight_contract.issuer import IssueOut, TradeOut

CHANNEL = "issues"
S = IssueState


class StaleState(Exception):
    """The issue is no longer in the state the caller expected (someone else moved it)."""

    def __init__(self, issue_id: int, current: str | None) -> None:
        super().__init__(f"issue {issue_id} is {current or 'gone'}")
        self.issue_id = issue_id
        self.current = current


class CursorExists(Exception):
    """The starting point was already chosen; it is never moved back."""


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def dt_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def ndau_text(napu: int) -> str:
    """Exact ndau as text with all 8 decimals ("7.50000000", "0.00000000")."""
    return format(napu_to_ndau(napu), "f")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def issue_out(row: IssueRow) -> IssueOut:
    """The API shape of an issue: amounts as exact strings, never floats."""
    return IssueOut(
        id=row.id,
        state=row.state,
        mode=row.mode,
        symbol=row.symbol,
        qty_napu=str(row.qty_napu),
        qty_ndau=ndau_text(row.qty_napu),
        trade_count=row.trade_count,
        window_start=ms_to_dt(row.window_start_ms).isoformat(),
        window_end=ms_to_dt(row.window_end_ms).isoformat(),
        first_trade_at=ms_to_dt(row.first_trade_ms).isoformat(),
        last_trade_at=ms_to_dt(row.last_trade_ms).isoformat(),
        sequence=row.sequence,
        tx_hash=row.tx_hash,
        block_height=row.block_height,
        rfe_address=row.rfe_address,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        decided_by=row.decided_by,
        decided_at=_iso(row.decided_at),
        decision_reason=row.decision_reason,
        signing_at=_iso(row.signing_at),
        signed_at=_iso(row.signed_at),
        submitted_at=_iso(row.submitted_at),
        confirmed_at=_iso(row.confirmed_at),
        attempts=row.attempts,
        resequenced=row.resequenced,
        last_error=row.last_error,
    )


def trade_out(row: IssueTradeRow) -> TradeOut:
    return TradeOut(
        trade_id=row.trade_id,
        order_id=row.order_id,
        symbol=row.symbol,
        side=row.side,
        price=row.price,
        size=row.size,
        notional=row.notional,
        qty_napu=str(row.qty_napu),
        created_at=ms_to_dt(row.create_time_ms).isoformat(),
        create_time_ms=row.create_time_ms,
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """A Bitmart time window and the sell trades found in it."""

    start_ms: int
    end_ms: int
    trades: Sequence[Trade]
    napu: Sequence[int]


class IssueStore:
    def __init__(self, db: Database, clock: Clock, bus: EventBus, *, cursor_name: str) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.cursor_name = cursor_name

    # ------------------------------------------------------------------ cursor

    async def cursor(self) -> IssuerCursorRow | None:
        async with self.db.session() as session:
            return await session.get(IssuerCursorRow, self.cursor_name)

    async def create_cursor(self, start_ms: int, *, actor: str, source: str | None = None) -> int:
        """Choose the first start's starting point, once; audited."""
        now = self.clock.now()
        async with self.db.session() as session:
            if await session.get(IssuerCursorRow, self.cursor_name) is not None:
                raise CursorExists("the issuer already has a starting point")
            session.add(
                IssuerCursorRow(
                    name=self.cursor_name,
                    cursor_ms=start_ms,
                    started_from_ms=start_ms,
                    started_by=actor[:120],
                    created_at=now,
                    updated_at=now,
                )
            )
            record_audit(
                session,
                actor=actor,
                action="issuer.start",
                target=self.cursor_name,
                source=source,
                detail={"start": _iso(ms_to_dt(start_ms))},
            )
        self.bus.emit("issuer.started", IssuerStarted(start=_iso(ms_to_dt(start_ms))))
        return start_ms

    async def record_batch(self, lease: Lease, batch: Batch, mode: str) -> IssueRow | None:
        """Advance the cursor over the window and, if it had sales, create their issue, atomically.

        Trades already attached to an issue are skipped (their primary key forbids counting one
        twice anyway), so a window that is fetched again after a crash adds nothing twice.
        """
        now = self.clock.now()
        issue: IssueRow | None = None
        async with self.db.session() as session:
            token = await lease.fence(session)
            cursor = await session.get(IssuerCursorRow, self.cursor_name)
            if cursor is None or cursor.cursor_ms != batch.start_ms:
                raise StaleState(0, "cursor moved")
            ids = [t.trade_id for t in batch.trades]
            known = set()
            for chunk in in_chunks(ids):
                known |= set(
                    await session.scalars(
                        select(IssueTradeRow.trade_id).where(IssueTradeRow.trade_id.in_(chunk))
                    )
                )
            fresh = [
                (t, n)
                for t, n in zip(batch.trades, batch.napu, strict=True)
                if t.trade_id not in known
            ]
            total = sum(n for _t, n in fresh)
            if fresh and total > 0:
                issue = IssueRow(
                    state=S.DETECTED,
                    mode=mode,
                    symbol=fresh[0][0].symbol,
                    qty_napu=total,
                    trade_count=len(fresh),
                    window_start_ms=batch.start_ms,
                    window_end_ms=batch.end_ms,
                    first_trade_ms=min(t.create_time_ms for t, _n in fresh),
                    last_trade_ms=max(t.create_time_ms for t, _n in fresh),
                    created_at=now,
                    updated_at=now,
                    attempts=0,
                    resequenced=0,
                    lease_token=token,
                )
                session.add(issue)
                await session.flush()
                for trade, napu in fresh:
                    session.add(
                        IssueTradeRow(
                            trade_id=trade.trade_id,
                            issue_id=issue.id,
                            order_id=trade.order_id,
                            symbol=trade.symbol,
                            side=trade.side,
                            price=str(trade.price),
                            size=str(trade.size),
                            notional=str(trade.notional) if trade.notional is not None else None,
                            qty_napu=napu,
                            create_time_ms=trade.create_time_ms,
                        )
                    )
                record_audit(
                    session,
                    actor="issuer",
                    action="issuer.detected",
                    target=f"issue:{issue.id}",
                    detail={"qty_napu": str(total), "trades": len(fresh)},
                )
            cursor.cursor_ms = batch.end_ms
            cursor.updated_at = now
        if issue is not None:
            self.bus.emit("issue.update", issue_out(issue))
        return issue

    # ------------------------------------------------------------------ transitions

    async def transition(
        self,
        lease: Lease | None,
        issue_id: int,
        expected: Iterable[str],
        target: str,
        *,
        actor: str = "issuer",
        source: str | None = None,
        audit_detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> IssueRow:
        """Move an issue from one of `expected` to `target` with `fields`, or raise StaleState.

        With a lease, the write is fenced: it happens only while this issuer holds the lease.
        """
        expected = [str(s) for s in expected]
        for state in expected:
            if state != target and not can_move(state, target):
                raise ValueError(f"{state} -> {target} is not a legal move")
        now = self.clock.now()
        values = {"state": str(target), "updated_at": now, **fields}
        async with self.db.session() as session:
            if lease is not None:
                values["lease_token"] = await lease.fence(session)
            result = await session.execute(
                update(IssueRow)
                .where(IssueRow.id == issue_id, IssueRow.state.in_(expected))
                .values(**values)
            )
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                current = await session.scalar(
                    select(IssueRow.state).where(IssueRow.id == issue_id)
                )
                raise StaleState(issue_id, current)
            detail = {k: _audit_value(v) for k, v in fields.items() if k in _AUDITED}
            detail.update(audit_detail or {})
            record_audit(
                session,
                actor=actor,
                action=f"issuer.{target}",
                target=f"issue:{issue_id}",
                source=source,
                detail=detail or None,
            )
            row = await session.get(IssueRow, issue_id, populate_existing=True)
            assert row is not None
        self.bus.emit("issue.update", issue_out(row))
        return row

    async def note_error(self, lease: Lease, issue_id: int, error: str) -> IssueRow | None:
        """Record a failed attempt on an issue without changing its state."""
        async with self.db.session() as session:
            await lease.fence(session)
            row = await session.get(IssueRow, issue_id)
            if row is None:
                return None
            row.attempts += 1
            row.last_error = error[:500]
            row.updated_at = self.clock.now()
        self.bus.emit("issue.update", issue_out(row))
        return row

    async def mark_alerted(self, issue_id: int) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(IssueRow).where(IssueRow.id == issue_id).values(alerted_at=self.clock.now())
            )

    # ------------------------------------------------------------------ queries

    async def get(self, issue_id: int) -> IssueRow | None:
        async with self.db.session() as session:
            return await session.get(IssueRow, issue_id)

    async def trades(self, issue_id: int) -> list[IssueTradeRow]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(IssueTradeRow)
                .where(IssueTradeRow.issue_id == issue_id)
                .order_by(
                    IssueTradeRow.create_time_ms,
                    func.length(IssueTradeRow.trade_id),
                    IssueTradeRow.trade_id,
                )
            )
            return list(rows)

    async def list(
        self, states: Sequence[str] | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[IssueRow]:
        query = select(IssueRow).order_by(IssueRow.id.desc()).limit(limit)
        if states:
            query = query.where(IssueRow.state.in_(list(states)))
        if before_id is not None:
            query = query.where(IssueRow.id < before_id)
        async with self.db.session() as session:
            return list(await session.scalars(query))

    async def oldest(self, states: Iterable[str]) -> IssueRow | None:
        async with self.db.session() as session:
            return (
                await session.scalars(
                    select(IssueRow)
                    .where(IssueRow.state.in_([str(s) for s in states]))
                    .order_by(IssueRow.id)
                    .limit(1)
                )
            ).first()

    async def in_flight(self) -> IssueRow | None:
        """The issue holding a sequence that might still land (at most one by construction)."""
        async with self.db.session() as session:
            return (
                await session.scalars(
                    select(IssueRow)
                    .where(
                        (IssueRow.state.in_([str(s) for s in IN_FLIGHT]))
                        | ((IssueRow.state == S.FAILED) & IssueRow.sequence.is_not(None))
                    )
                    .order_by(IssueRow.id)
                    .limit(1)
                )
            ).first()

    async def last_landed(self, rfe_address: str) -> IssueRow | None:
        """The issue confirmed from this RFE account with the highest sequence: the account's
        sequence on the chain is at least that, whatever a node lagging behind it reports."""
        async with self.db.session() as session:
            return (
                await session.scalars(
                    select(IssueRow)
                    .where(
                        IssueRow.state == S.CONFIRMED,
                        IssueRow.sequence.is_not(None),
                        IssueRow.rfe_address == rfe_address,
                    )
                    .order_by(IssueRow.sequence.desc())
                    .limit(1)
                )
            ).first()

    async def landed_with(self, tx_hash: str, other_than: int) -> IssueRow | None:
        """Another issue confirmed by this very tx (an Issue is only qty and sequence)."""
        async with self.db.session() as session:
            return (
                await session.scalars(
                    select(IssueRow)
                    .where(
                        IssueRow.tx_hash == tx_hash,
                        IssueRow.state == S.CONFIRMED,
                        IssueRow.id != other_than,
                    )
                    .limit(1)
                )
            ).first()

    async def overdue_approvals(self, older_than: datetime) -> list[IssueRow]:
        async with self.db.session() as session:
            return list(
                await session.scalars(
                    select(IssueRow).where(
                        IssueRow.state == S.AWAITING_APPROVAL,
                        IssueRow.created_at <= older_than,
                        IssueRow.alerted_at.is_(None),
                    )
                )
            )

    async def count_overdue(self, older_than: datetime) -> int:
        async with self.db.session() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(IssueRow)
                    .where(IssueRow.state == S.AWAITING_APPROVAL, IssueRow.created_at <= older_than)
                )
                or 0
            )

    async def totals_by_state(self) -> dict[str, dict[str, int]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(
                    IssueRow.state, func.count(), func.coalesce(func.sum(IssueRow.qty_napu), 0)
                ).group_by(IssueRow.state)
            )
            return {state: {"count": int(n), "napu": int(total)} for state, n, total in rows}

    async def confirmed_between(self, start: datetime, end: datetime) -> list[IssueRow]:
        """Issues confirmed on the ndau chain in `[start, end)`, oldest first."""
        async with self.db.session() as session:
            query = (
                select(IssueRow)
                .where(IssueRow.confirmed_at >= start, IssueRow.confirmed_at < end)
                .order_by(IssueRow.confirmed_at, IssueRow.id)
            )
            return list(await session.scalars(query))

    async def trade_totals(self, start_ms: int, end_ms: int) -> dict[str, dict[str, int]]:
        """Recorded sell trades in `[start, end)`, summed by the state of their issue."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(
                    IssueRow.state,
                    func.count(IssueTradeRow.trade_id),
                    func.coalesce(func.sum(IssueTradeRow.qty_napu), 0),
                )
                .join(IssueRow, IssueRow.id == IssueTradeRow.issue_id)
                .where(
                    IssueTradeRow.create_time_ms >= start_ms, IssueTradeRow.create_time_ms < end_ms
                )
                .group_by(IssueRow.state)
            )
            return {state: {"count": int(n), "napu": int(total)} for state, n, total in rows}


_AUDITED = {"sequence", "tx_hash", "block_height", "decision_reason", "last_error", "resequenced"}


def _audit_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | str | None):
        return value
    return json.dumps(value, default=str)
