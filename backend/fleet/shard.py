"""Which part of the fleet a collector polls, and the heartbeat rows that say it is alive.

`--shard I/N` takes the miners whose id hashes (CRC-32, the same in every process and release)
to I-1 modulo N, so every miner belongs to exactly one of the N shards; `--site NAME` takes the
miners labelled with that site. Each shard is a named lease (`fleet-shard:<key>`), so one
collector polls it at a time, and one heartbeat row per shard (`fleet_collectors`) says who polls
it and when it last swept: API instances mark the miners of a shard whose heartbeat is old as
stale, and a collector started with `--adopt-stale` takes such a shard over through its lease.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, Database, UtcDateTime
from backend.fleet.inventory import MinerSpec

ALL = "all"
LEASE_PREFIX = "fleet-shard:"


class FleetCollectorRow(Base):
    """The heartbeat of one shard: its current collector and its last sweep."""

    __tablename__ = "fleet_collectors"

    shard: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160))
    miners: Mapped[int] = mapped_column(Integer)
    polled: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    sweeps: Mapped[int] = mapped_column(Integer)
    interval_s: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_sweep_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(160))  # home collector wants it back


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """One part of the fleet: by hash (`index`/`count`, 1-based), by site, or all of it."""

    index: int = 1
    count: int = 1
    site: str | None = None

    @property
    def key(self) -> str:
        if self.site is not None:
            return f"site:{self.site}"
        return ALL if self.count == 1 else f"{self.index}/{self.count}"

    @property
    def lease_name(self) -> str:
        return LEASE_PREFIX + self.key

    def covers(self, spec: MinerSpec) -> bool:
        if self.site is not None:
            return spec.site == self.site
        return self.count == 1 or shard_of(spec.id, self.count) == self.index

    def select(self, specs: Iterable[MinerSpec]) -> list[MinerSpec]:
        return [spec for spec in specs if self.covers(spec)]


def shard_of(miner_id: str, count: int) -> int:
    """The 1-based shard of a miner among `count`: stable across processes and restarts."""
    return zlib.crc32(miner_id.encode("utf-8")) % count + 1


def parse_shard(text: str) -> ShardSpec:
    """`"2/4"` -> shard 2 of 4, `"site:NAME"` -> a site, `"all"` -> everything."""
    raw = text.strip()
    if raw == ALL:
        return ShardSpec()
    if raw.startswith("site:"):
        return site_shard(raw[5:])
    index_text, sep, count_text = raw.partition("/")
    if not sep or not index_text.isdigit() or not count_text.isdigit():
        raise ValueError(f"shard {text!r}: expected I/N, e.g. 1/2")
    index, count = int(index_text), int(count_text)
    if not 1 <= index <= count or count > 4096:
        raise ValueError(f"shard {text!r}: I must be between 1 and N (N at most 4096)")
    return ShardSpec(index, count)


def site_shard(site: str) -> ShardSpec:
    name = site.strip()
    if not name or len(name) > 64:
        raise ValueError("a site name needs 1 to 64 characters")
    return ShardSpec(site=name)


def stale_miner_ids(
    specs: Sequence[MinerSpec], heartbeats: Iterable[dict[str, Any]], now: datetime, stale_s: float
) -> set[str]:
    """Miners that no shard with a fresh heartbeat covers (their collector stopped)."""
    fresh: list[ShardSpec] = []
    for beat in heartbeats:
        last = beat.get("last_sweep_at")
        if last is None or (now - last).total_seconds() > stale_s:
            continue
        try:
            fresh.append(parse_shard(beat["shard"]))
        except ValueError:
            continue
    if any(shard.key == ALL for shard in fresh):
        return set()
    return {spec.id for spec in specs if not any(shard.covers(spec) for shard in fresh)}


class HeartbeatStore:
    """Reads and writes of `fleet_collectors` (one small row per shard)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            rows = (await session.execute(select(FleetCollectorRow.__table__))).mappings().all()
        return [dict(row) for row in rows]

    async def beat(self, shard: str, values: dict[str, Any], *, home: bool) -> None:
        """Upsert the shard's row (one INSERT … ON CONFLICT DO UPDATE on both engines). Only
        the shard's home collector clears a claim: an adopter must keep seeing it until it
        lets go."""
        table = FleetCollectorRow.__table__
        values = {**values, "claimed_by": None} if home else values
        query = (
            self.db.insert(table)
            .values(shard=shard, **values)
            .on_conflict_do_update(index_elements=[table.c.shard], set_=values)
        )
        async with self.db.session() as session:
            await session.execute(query)

    async def claim(self, shard: str, holder: str) -> None:
        """The home collector of a shard another collector adopted asks for it back."""
        table = FleetCollectorRow.__table__
        async with self.db.session() as session:
            await session.execute(
                update(table).where(table.c.shard == shard).values(claimed_by=holder)
            )


@dataclass(frozen=True, slots=True)
class FleetRole:
    """What this process does with the fleet.

    `collect` False: poll nothing, show the whole fleet from the database and the bus
    (`serve --no-collect`). `shard` set: poll that shard only (`collector`); None polls all.
    `adopt`: take over shards whose collector stopped (after `adopt_after_s`).
    """

    collect: bool = True
    shard: ShardSpec | None = None
    adopt: bool = False
    adopt_after_s: float | None = None
