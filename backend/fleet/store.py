"""Fleet persistence: one batched transaction per sweep, history reads, retention, labels.

A sweep of 10,000 miners writes 10,000 sample rows, the changed miners' current state and
any alert changes in ONE transaction (never a transaction per miner): samples and rollups are
appended with COPY on PostgreSQL and ``executemany`` on SQLite (`Database.append`). A sharded
collector's sweep is fenced: the transaction first proves its shard leases are still held, so
a collector that lost a shard mid-sweep writes nothing. History reads raw samples for short
periods and 5-minute rollups for long ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, func, select, update

from backend.core.audit import record_audit
from backend.core.db import Database
from backend.core.lease import Lease
from backend.fleet.inventory import LabelRow, MinerSpec, ScanHit
from backend.fleet.models import (
    FleetAlertRow,
    FleetMinerRow,
    FleetRollupRow,
    FleetSampleRow,
)

SAMPLES = FleetSampleRow.__table__
ROLLUPS = FleetRollupRow.__table__
MINERS = FleetMinerRow.__table__
ALERTS = FleetAlertRow.__table__

_STATE_UPDATE = (
    update(MINERS)
    .where(MINERS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        snapshot=bindparam("b_snapshot"),
        last_seen=bindparam("b_last_seen"),
        polled_at=bindparam("b_polled_at"),
    )
)
_ALERT_UPDATE = (
    update(ALERTS)
    .where(ALERTS.c.id == bindparam("b_id"))
    .values(state=bindparam("b_state"), cleared_at=bindparam("b_cleared_at"))
)


@dataclass(slots=True)
class SweepWrite:
    """Everything one sweep persists."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)  # b_id, b_status, b_snapshot...
    rollups: list[dict[str, Any]] = field(default_factory=list)
    new_alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_updates: list[dict[str, Any]] = field(default_factory=list)  # b_id, b_state...


class FleetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ inventory

    async def load_miners(self) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            rows = (await session.execute(select(MINERS))).mappings().all()
        return [dict(row) for row in rows]

    async def ensure_miners(self, specs: Sequence[MinerSpec], source: str, now: datetime) -> int:
        """Insert rows for miners not yet known (labels are imported ones only); returns how
        many were new. Known ids are skipped first (a restart inserts nothing); the rest go in
        with ON CONFLICT DO NOTHING, so two processes adding the same miners at once both
        succeed and each new miner is counted once. The read is its own transaction: on SQLite
        a read transaction that then writes fails if another process wrote meanwhile."""
        async with self.db.session() as session:
            known = set((await session.scalars(select(MINERS.c.id))).all())
        rows = [
            {
                "id": spec.id,
                "host": spec.host,
                "port": spec.port,
                "name": spec.name,
                "site": None,
                "rack": None,
                "position": None,
                "source": source,
                "added_at": now,
                "enabled": True,
            }
            for spec in sorted({spec.id: spec for spec in specs}.values(), key=_by_id)
            if spec.id not in known
        ]  # in id order: two writers of the same ids never wait on each other in a cycle
        if not rows:
            return 0
        query = self.db.insert(MINERS).on_conflict_do_nothing(index_elements=[MINERS.c.id])
        async with self.db.session() as session:
            added = await session.scalars(query.returning(MINERS.c.id), rows)
            return len(added.all())

    async def import_labels(
        self, rows: Sequence[LabelRow], *, actor: str, now: datetime
    ) -> tuple[int, int]:
        """Upsert miners with their labels from a CSV, in one transaction; (added, updated)."""
        added = updated = 0
        async with self.db.session() as session:
            existing = {row.id: row for row in (await session.scalars(select(FleetMinerRow))).all()}
            by_address = {(row.host, row.port): row for row in existing.values()}
            for item in rows:
                spec = item.spec
                row = existing.get(spec.id) or by_address.get((spec.host, spec.port))
                if row is None:
                    row = FleetMinerRow(
                        id=spec.id,
                        host=spec.host,
                        port=spec.port,
                        name=spec.name,
                        source="import",
                        added_at=now,
                        enabled=True,
                    )
                    session.add(row)
                    existing[spec.id] = row
                    by_address[(spec.host, spec.port)] = row
                    added += 1
                else:
                    updated += 1
                row.site, row.rack, row.position = spec.site, spec.rack, spec.position
            record_audit(
                session,
                actor=actor,
                action="fleet.labels.import",
                detail={"added": added, "updated": updated, "rows": len(rows)},
            )
        return added, updated

    async def add_scanned(self, hits: Iterable[ScanHit], *, actor: str, now: datetime) -> int:
        specs = [MinerSpec(id=hit.address, host=hit.host, port=hit.port) for hit in hits]
        count = await self.ensure_miners(specs, "scan", now)
        async with self.db.session() as session:
            record_audit(session, actor=actor, action="fleet.scan.add", detail={"added": count})
        return count

    # ------------------------------------------------------------------ per sweep

    async def write_sweep(self, batch: SweepWrite, fences: Sequence[Lease] = ()) -> list[int]:
        """Persist one sweep in one transaction; returns the ids given to new alerts.

        `fences`: the leases the sweep's miners were polled under. Each is checked first, inside
        the transaction; if one was lost (expired or taken over) the lease's `lost_error` is
        raised and nothing of the sweep is written.
        """
        ids: list[int] = []
        async with self.db.session() as session:
            for lease in fences:
                await lease.fence(session)
            await self.db.append(session, SAMPLES, batch.samples)
            if batch.states:
                await session.execute(_STATE_UPDATE, batch.states)
            await self.db.append(session, ROLLUPS, batch.rollups)
            if batch.alert_updates:
                await session.execute(_ALERT_UPDATE, batch.alert_updates)
            if batch.new_alerts:
                rows = [FleetAlertRow(**alert) for alert in batch.new_alerts]
                session.add_all(rows)
                await session.flush()
                ids = [row.id for row in rows]
        return ids

    async def prune(self, raw_before: datetime, rollups_before: datetime) -> tuple[int, int]:
        async with self.db.session() as session:
            raw = await session.execute(delete(SAMPLES).where(SAMPLES.c.ts < raw_before))
            old = await session.execute(delete(ROLLUPS).where(ROLLUPS.c.ts < rollups_before))
        return raw.rowcount or 0, old.rowcount or 0  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ history

    async def history(
        self, miner_id: str, since: datetime, *, rollups: bool
    ) -> list[dict[str, Any]]:
        table = ROLLUPS if rollups else SAMPLES
        columns = [
            table.c.ts,
            table.c.status,
            table.c.hashrate_ths,
            table.c.power_w,
            table.c.temp_board_max_c,
            table.c.temp_chip_max_c,
        ]
        if rollups:
            columns.append(table.c.samples)
        query = (
            select(*columns)
            .where(table.c.miner_id == miner_id, table.c.ts >= since)
            .order_by(table.c.ts, table.c.id)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).mappings().all()
        return _merge_buckets(rows) if rollups else [dict(row) for row in rows]

    async def samples_since(self, since: datetime, limit: int = 200_000) -> list[dict[str, Any]]:
        """Polls stored after ``since``, oldest first (a sweep's rows share one ``ts``): how an
        instance that polls nothing follows the collectors' sweeps when no Redis carries them."""
        table = SAMPLES
        query = (
            select(
                table.c.miner_id,
                table.c.ts,
                table.c.status,
                table.c.hashrate_ths,
                table.c.power_w,
                table.c.temp_board_max_c,
                table.c.temp_chip_max_c,
            )
            .where(table.c.ts > since)
            .order_by(table.c.ts, table.c.id)
            .limit(limit)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).mappings().all()
        return [dict(row) for row in rows]

    # ------------------------------------------------------------------ alerts

    async def open_alerts(self) -> list[FleetAlertRow]:
        async with self.db.session() as session:
            query = select(FleetAlertRow).where(FleetAlertRow.state != "cleared")
            return list((await session.scalars(query)).all())

    async def list_alerts(
        self, *, state: str | None, miner_id: str | None, limit: int, offset: int
    ) -> tuple[list[FleetAlertRow], int]:
        query = select(FleetAlertRow)
        count = select(func.count()).select_from(FleetAlertRow)
        if state is not None:
            query = query.where(FleetAlertRow.state == state)
            count = count.where(FleetAlertRow.state == state)
        if miner_id is not None:
            query = query.where(FleetAlertRow.miner_id == miner_id)
            count = count.where(FleetAlertRow.miner_id == miner_id)
        query = query.order_by(FleetAlertRow.id.desc()).limit(limit).offset(offset)
        async with self.db.session() as session:
            total = int(await session.scalar(count) or 0)
            return list((await session.scalars(query)).all()), total

    async def acknowledge(
        self,
        alert_id: int,
        *,
        actor: str,
        now: datetime,
        source: str | None = None,
        note: str | None = None,
    ) -> FleetAlertRow | None:
        """raised -> acknowledged (audited); None if unknown; unchanged if not raised."""
        async with self.db.session() as session:
            row = await session.get(FleetAlertRow, alert_id)
            if row is None:
                return None
            if row.state == "raised":
                row.state = "acknowledged"
                row.acknowledged_at = now
                row.acknowledged_by = actor
                row.ack_note = note
                record_audit(
                    session,
                    actor=actor,
                    action="fleet.alert.acknowledge",
                    target=row.miner_id,
                    source=source,
                    detail={"alert_id": row.id, "rule": row.rule, "note": note},
                )
            return row


def _by_id(spec: MinerSpec) -> str:
    return spec.id


def _merge_buckets(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of the same bucket (a restart inside a bucket writes it twice) become one point."""
    merged: dict[datetime, dict[str, Any]] = {}
    for row in rows:
        point = merged.get(row["ts"])
        if point is None:
            merged[row["ts"]] = dict(row)
            continue
        weight_a, weight_b = point["samples"], row["samples"]
        for key in ("hashrate_ths", "power_w"):
            point[key] = _weighted(point[key], weight_a, row[key], weight_b)
        for key in ("temp_board_max_c", "temp_chip_max_c"):
            values = [v for v in (point[key], row[key]) if v is not None]
            point[key] = max(values) if values else None
        point["status"] = row["status"]
        point["samples"] = weight_a + weight_b
    return list(merged.values())


def _weighted(a: float | None, wa: int, b: float | None, wb: int) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return (a * wa + b * wb) / max(wa + wb, 1)


def snapshot_json(data: dict[str, Any]) -> str:
    """A miner's state as stored: orjson (a sixth of ``json``'s time: the first sweep stores
    every miner); ``json`` for what orjson cannot write (an integer past 64 bits)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"))
