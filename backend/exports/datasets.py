"""Datasets that can be exported in bulk: a name, its columns and an async row iterator.

A domain registers its dataset here with `register_dataset(Dataset(...))`; the export job streams
the iterator to disk, so a dataset must yield rows in batches from the database (see `iter_table`),
never load everything at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from backend.auth.service import KeyInfo
from backend.core.db import Database

BATCH_ROWS = 500


@dataclass(frozen=True)
class DatasetContext:
    db: Database
    backend: Any
    key: KeyInfo
    start: datetime | None
    end: datetime | None


RowIterator = Callable[[DatasetContext], AsyncIterator[dict[str, Any]]]


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    columns: tuple[str, ...]
    rows: RowIterator
    count: Callable[[DatasetContext], Awaitable[int | None]] | None = None
    bytes_per_row: int = 200
    operator_only: bool = False
    # Why the dataset cannot be exported from this backend right now (None: it can).
    unavailable: Callable[[Any], str | None] | None = None

    def visible_to(self, key: KeyInfo) -> bool:
        return not self.operator_only or key.owner_type == "operator"


_REGISTRY: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> None:
    _REGISTRY[dataset.name] = dataset


def get_dataset(name: str) -> Dataset | None:
    _ensure_builtins()
    return _REGISTRY.get(name)


def datasets() -> list[Dataset]:
    _ensure_builtins()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


async def iter_table(
    db: Database,
    model: Any,
    *,
    time_column: InstrumentedAttribute[Any] | None,
    start: datetime | None,
    end: datetime | None,
    where: Sequence[Any] = (),
    to_dict: Callable[[Any], dict[str, Any]],
    batch: int = BATCH_ROWS,
) -> AsyncIterator[dict[str, Any]]:
    """Rows of a table in id order, one short transaction per batch (keyset pagination)."""
    last_id = 0
    while True:
        query = select(model).where(model.id > last_id, *where)
        if time_column is not None and start is not None:
            query = query.where(time_column >= start)
        if time_column is not None and end is not None:
            query = query.where(time_column < end)
        async with db.session() as session:
            rows = list(await session.scalars(query.order_by(model.id).limit(batch)))
            dicts = [to_dict(row) for row in rows]
        if not rows:
            return
        last_id = rows[-1].id
        for item in dicts:
            yield item
        if len(rows) < batch:
            return


async def count_table(
    db: Database,
    model: Any,
    *,
    time_column: InstrumentedAttribute[Any] | None,
    start: datetime | None,
    end: datetime | None,
    where: Sequence[Any] = (),
) -> int:
    query = select(func.count()).select_from(model).where(*where)
    if time_column is not None and start is not None:
        query = query.where(time_column >= start)
    if time_column is not None and end is not None:
        query = query.where(time_column < end)
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


# --- built-in datasets ---------------------------------------------------------------------------


def _audit(ctx: DatasetContext) -> AsyncIterator[dict[str, Any]]:
    from backend.core.audit import AuditEntry

    def view(row: AuditEntry) -> dict[str, Any]:
        return {
            "id": row.id,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "action": row.action,
            "target": row.target,
            "source": row.source,
            "detail": json.loads(row.detail) if row.detail else None,
        }

    return iter_table(
        ctx.db, AuditEntry, time_column=AuditEntry.at, start=ctx.start, end=ctx.end, to_dict=view
    )


async def _audit_count(ctx: DatasetContext) -> int:
    from backend.core.audit import AuditEntry

    return await count_table(
        ctx.db, AuditEntry, time_column=AuditEntry.at, start=ctx.start, end=ctx.end
    )


def _usage_filter(ctx: DatasetContext) -> list[Any]:
    from backend.auth.models import KeyUsageRow

    if ctx.key.owner_type == "operator":
        return []
    return [KeyUsageRow.owner_id == ctx.key.owner_id]


def _usage(ctx: DatasetContext) -> AsyncIterator[dict[str, Any]]:
    from backend.auth.models import KeyUsageRow
    from backend.auth.usage import usage_view

    return iter_table(
        ctx.db,
        KeyUsageRow,
        time_column=KeyUsageRow.hour,
        start=ctx.start,
        end=ctx.end,
        where=_usage_filter(ctx),
        to_dict=usage_view,
    )


async def _usage_count(ctx: DatasetContext) -> int:
    from backend.auth.models import KeyUsageRow

    return await count_table(
        ctx.db,
        KeyUsageRow,
        time_column=KeyUsageRow.hour,
        start=ctx.start,
        end=ctx.end,
        where=_usage_filter(ctx),
    )


_builtins_done = False


def _ensure_builtins() -> None:
    global _builtins_done
    if _builtins_done:
        return
    _builtins_done = True
    for dataset in (
        Dataset(
            "audit_log",
            "Every audited change: who, what, when, from where (operators only).",
            ("id", "at", "actor", "action", "target", "source", "detail"),
            _audit,
            _audit_count,
            bytes_per_row=220,
            operator_only=True,
        ),
        Dataset(
            "api_key_usage",
            "Requests per API key per hour, with errors and rate-limited answers "
            "(partners see their own keys).",
            ("key_id", "owner_id", "hour", "requests", "errors", "rate_limited"),
            _usage,
            _usage_count,
            bytes_per_row=130,
        ),
    ):
        _REGISTRY.setdefault(dataset.name, dataset)
    _register_domain_datasets()


def _table_dataset(
    name: str,
    description: str,
    model: Any,
    time_column: Any,
    columns: tuple[str, ...],
    bytes_per_row: int,
    operator_only: bool = False,
) -> Dataset:
    def view(row: Any) -> dict[str, Any]:
        out = {}
        for column in columns:
            value = getattr(row, column)
            out[column] = value.isoformat() if isinstance(value, datetime) else value
        return out

    return Dataset(
        name,
        description,
        columns,
        lambda ctx: iter_table(
            ctx.db, model, time_column=time_column, start=ctx.start, end=ctx.end, to_dict=view
        ),
        lambda ctx: count_table(
            ctx.db, model, time_column=time_column, start=ctx.start, end=ctx.end
        ),
        bytes_per_row=bytes_per_row,
        operator_only=operator_only,
    )


def _register_fleet_and_issuer() -> None:
    try:
        from backend.fleet.models import FleetAlertRow, FleetSampleRow
    except ImportError:
        pass
    else:
        _REGISTRY.setdefault(
            "fleet_samples",
            _table_dataset(
                "fleet_samples",
                "Raw miner samples: status, hashrate, power and temperatures per poll.",
                FleetSampleRow,
                FleetSampleRow.ts,
                (
                    "miner_id",
                    "ts",
                    "status",
                    "hashrate_ths",
                    "power_w",
                    "temp_board_max_c",
                    "temp_chip_max_c",
                ),
                120,
            ),
        )
        _REGISTRY.setdefault(
            "fleet_alerts",
            _table_dataset(
                "fleet_alerts",
                "Fleet alerts: rule, severity, state and when they were raised and cleared.",
                FleetAlertRow,
                FleetAlertRow.raised_at,
                (
                    "id",
                    "miner_id",
                    "rule",
                    "severity",
                    "state",
                    "message",
                    "value",
                    "threshold",
                    "raised_at",
                    "acknowledged_at",
                    "cleared_at",
                ),
                220,
            ),
        )
    try:
        from backend.issuer.models import IssueRow
    except ImportError:
        return
    _REGISTRY.setdefault(
        "issues",
        _table_dataset(
            "issues",
            "ndau issues: state, amounts (napu, exact), trades and chain transaction.",
            IssueRow,
            IssueRow.created_at,
            (
                "id",
                "state",
                "mode",
                "symbol",
                "qty_napu",
                "trade_count",
                "sequence",
                "tx_hash",
                "block_height",
                "created_at",
                "updated_at",
                "confirmed_at",
            ),
            260,
        ),
    )


def _register_domain_datasets() -> None:
    """Datasets of other domains whose tables exist in this build."""
    _register_fleet_and_issuer()
    try:
        from backend.notary.models import NotarizationRow
    except ImportError:  # pragma: no cover - the notary is part of this build
        return

    def notarization(row: NotarizationRow) -> dict[str, Any]:
        return {
            "id": row.id,
            "created_at": row.created_at.isoformat(),
            "status": row.status,
            "trigger": row.trigger,
            "period_start": row.period_start.isoformat(),
            "period_end": row.period_end.isoformat(),
            "hash": row.hash_hex,
            "signer": row.signer,
            "cid": row.cid,
            "tx_hash": row.tx_hash,
            "block_number": row.block_number,
        }

    _REGISTRY.setdefault(
        "notarizations",
        Dataset(
            "notarizations",
            "Notarized reports: hash, signer, CID and anchor transaction.",
            (
                "id",
                "created_at",
                "status",
                "trigger",
                "period_start",
                "period_end",
                "hash",
                "signer",
                "cid",
                "tx_hash",
                "block_number",
            ),
            lambda ctx: iter_table(
                ctx.db,
                NotarizationRow,
                time_column=NotarizationRow.created_at,
                start=ctx.start,
                end=ctx.end,
                to_dict=notarization,
            ),
            lambda ctx: count_table(
                ctx.db,
                NotarizationRow,
                time_column=NotarizationRow.created_at,
                start=ctx.start,
                end=ctx.end,
            ),
            bytes_per_row=400,
        ),
    )
