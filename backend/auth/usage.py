"""Per-key usage counters: counted in memory on every response, written per hour in batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from backend.auth.models import KeyUsageRow
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.db import Database
from hashinsight_contract.partners import UsageRow


@dataclass(slots=True)
class _Bucket:
    owner_id: str | None
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0


COUNTERS = ("requests", "errors", "rate_limited")


def hour_of(ts: float) -> datetime:
    return datetime.fromtimestamp(ts - ts % 3600, UTC)


class UsageRecorder:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock
        self._pending: dict[tuple[str, datetime], _Bucket] = {}

    def record(self, key_id: str, owner_id: str | None, status: int) -> None:
        """Count one answered request (cheap: no I/O)."""
        slot = (key_id, hour_of(self._clock.time()))
        bucket = self._pending.get(slot)
        if bucket is None:
            bucket = self._pending[slot] = _Bucket(owner_id)
        bucket.requests += 1
        if status == 429:
            bucket.rate_limited += 1
        elif status >= 400:
            bucket.errors += 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Add the pending counts to their hourly rows in one transaction."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        rows = [
            {
                "key_id": key_id,
                "owner_id": bucket.owner_id,
                "hour": hour,
                "requests": bucket.requests,
                "errors": bucket.errors,
                "rate_limited": bucket.rate_limited,
            }
            for (key_id, hour), bucket in batch.items()
        ]
        table = KeyUsageRow.__table__
        insert = self._db.insert(table)
        # One atomic upsert: two flushes (the timer and a usage query, or two API instances on
        # one database) adding to the same hour never collide on its unique row.
        upsert = insert.on_conflict_do_update(
            index_elements=["key_id", "hour"],
            set_={name: table.c[name] + insert.excluded[name] for name in COUNTERS},
        )
        try:
            async with self._db.session() as session:
                await session.execute(upsert, rows)
        except Exception:
            for slot, bucket in batch.items():  # keep the counts for the next flush
                merged = self._pending.setdefault(slot, _Bucket(bucket.owner_id))
                merged.requests += bucket.requests
                merged.errors += bucket.errors
                merged.rate_limited += bucket.rate_limited
            raise
        return len(batch)

    async def usage(
        self,
        *,
        key_ids: list[str] | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[UsageRow]:
        await self.flush()
        async with self._db.session() as session:
            query = select(KeyUsageRow).order_by(KeyUsageRow.hour.desc(), KeyUsageRow.key_id)
            if key_ids is not None:
                query = query.where(KeyUsageRow.key_id.in_(key_ids))
            if since is not None:
                query = query.where(KeyUsageRow.hour >= since)
            rows = list(await session.scalars(query.limit(limit)))
        return [usage_row(row) for row in rows]


def usage_row(row: KeyUsageRow) -> UsageRow:
    """One key's hour as the API shows it."""
    return UsageRow(
        key_id=row.key_id,
        owner_id=row.owner_id,
        hour=row.hour.isoformat(),
        requests=row.requests,
        errors=row.errors,
        rate_limited=row.rate_limited,
    )


def usage_view(row: KeyUsageRow) -> dict[str, Any]:
    """The same hour as plain data (the usage export's rows)."""
    return usage_row(row).model_dump()
