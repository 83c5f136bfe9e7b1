"""The fleet section of a notarized report: per miner and per site totals over a period.

Why from the database and not the live view: a report states what was measured over its period,
so it reads the 5-minute rollups up to the last rolled-up bucket and the raw samples after it,
never the current snapshot. Energy is each measured power times the time it stands for (a poll
interval, or a 5-minute bucket); uptime is the share of polls that found the miner answering.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from backend.core.db import Database
from backend.fleet.models import FleetMinerRow, FleetRollupRow, FleetSampleRow

ROLLUP_S = 300.0


@dataclass
class _Measured:
    """One miner's sums over the period, from rollups and raw samples alike."""

    polls: int = 0
    online: int = 0
    hashrate_sum: float = 0.0  # weighted by polls
    hashrate_n: int = 0
    power_sum: float = 0.0
    power_n: int = 0
    energy_j: float = 0.0

    @property
    def hashrate(self) -> float | None:
        return self.hashrate_sum / self.hashrate_n if self.hashrate_n else None

    @property
    def power(self) -> float | None:
        return self.power_sum / self.power_n if self.power_n else None


async def fleet_section(
    db: Database,
    start: datetime,
    end: datetime,
    *,
    poll_interval_s: float,
) -> dict[str, Any]:
    # Rollups up to the end of the last rolled-up bucket, raw samples after it (the newest
    # minutes are not rolled up yet, and raw samples older than the retention are gone).
    cutoff = await _rolled_up_until(db, start, end)
    per_miner: dict[str, _Measured] = defaultdict(_Measured)
    rolled = await _add_rollups(db, start, cutoff, per_miner) if cutoff > start else 0
    raw = await _add_raw(db, cutoff, end, poll_interval_s, per_miner)
    sources = [name for name, rows in (("5-minute rollups", rolled), ("raw samples", raw)) if rows]
    sites = await _sites(db, list(per_miner))
    miners: list[dict[str, Any]] = []
    by_site: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for miner_id in sorted(per_miner):
        m = per_miner[miner_id]
        if not m.polls:
            continue
        hashrate, power = m.hashrate, m.power
        energy_kwh = m.energy_j / 3.6e6 if m.power_n else None
        site = sites.get(miner_id) or "(no site)"
        miners.append(
            {
                "miner_id": miner_id,
                "site": site,
                "polls": m.polls,
                "uptime_pct": round(100.0 * m.online / m.polls, 3),
                "hashrate_avg_ths": hashrate,
                "power_avg_w": power,
                "energy_kwh": energy_kwh,
                "efficiency_jth": power / hashrate if power is not None and hashrate else None,
            }
        )
        totals = by_site[site]
        totals["miners"] += 1
        totals["polls"] += m.polls
        totals["online"] += m.online
        totals["hashrate_avg_ths"] += hashrate or 0.0
        totals["power_avg_w"] += power or 0.0
        totals["energy_kwh"] += energy_kwh or 0.0
    return {
        "source": " + ".join(sources) or "none",
        "miners_reporting": len(miners),
        "sites": {name: _site_totals(values) for name, values in sorted(by_site.items())},
        "totals": _site_totals(_sum(by_site.values())),
        "miners": miners,
    }


def _site_totals(values: dict[str, float]) -> dict[str, Any]:
    hashrate, power = values.get("hashrate_avg_ths", 0.0), values.get("power_avg_w", 0.0)
    polls = values.get("polls", 0.0)
    return {
        "miners": int(values.get("miners", 0)),
        "hashrate_avg_ths": hashrate,
        "power_avg_w": power,
        "energy_kwh": values.get("energy_kwh", 0.0),
        "efficiency_jth": power / hashrate if hashrate else None,
        "uptime_pct": round(100.0 * values.get("online", 0.0) / polls, 3) if polls else None,
    }


def _sum(rows: Any) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for row in rows:
        for key, value in row.items():
            total[key] += value
    return total


async def _rolled_up_until(db: Database, start: datetime, end: datetime) -> datetime:
    query = select(func.max(FleetRollupRow.ts)).where(
        FleetRollupRow.ts >= start, FleetRollupRow.ts < end
    )
    async with db.session() as session:
        last = await session.scalar(query)
    if last is None:
        return start
    return min(end, last + timedelta(seconds=ROLLUP_S))


async def _add_raw(
    db: Database,
    start: datetime,
    end: datetime,
    poll_interval_s: float,
    into: dict[str, _Measured],
) -> int:
    online = case((FleetSampleRow.status.in_(("offline", "error")), 0), else_=1)
    query = (
        select(
            FleetSampleRow.miner_id,
            func.count(),
            func.sum(online),
            func.sum(FleetSampleRow.hashrate_ths),
            func.count(FleetSampleRow.hashrate_ths),
            func.sum(FleetSampleRow.power_w),
            func.count(FleetSampleRow.power_w),
        )
        .where(FleetSampleRow.ts >= start, FleetSampleRow.ts < end)
        .group_by(FleetSampleRow.miner_id)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    for miner_id, polls, up, h_sum, h_n, p_sum, p_n in rows:
        m = into[miner_id]
        m.polls += int(polls)
        m.online += int(up or 0)
        m.hashrate_sum += float(h_sum or 0.0)
        m.hashrate_n += int(h_n)
        m.power_sum += float(p_sum or 0.0)
        m.power_n += int(p_n)
        m.energy_j += float(p_sum or 0.0) * poll_interval_s  # each poll stands for one interval
    return len(rows)


async def _add_rollups(
    db: Database, start: datetime, end: datetime, into: dict[str, _Measured]
) -> int:
    R = FleetRollupRow
    has_h = case((R.hashrate_ths.is_(None), 0), else_=R.samples)
    has_p = case((R.power_w.is_(None), 0), else_=R.samples)
    query = (
        select(
            R.miner_id,
            func.sum(R.samples),
            func.sum(R.online),
            func.sum(func.coalesce(R.hashrate_ths, 0.0) * R.samples),
            func.sum(has_h),
            func.sum(func.coalesce(R.power_w, 0.0) * R.samples),
            func.sum(has_p),
            func.sum(func.coalesce(R.power_w, 0.0)),
        )
        .where(R.ts >= start, R.ts < end)
        .group_by(R.miner_id)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    for miner_id, polls, up, h_sum, h_n, p_sum, p_n, bucket_power in rows:
        m = into[miner_id]
        m.polls += int(polls or 0)
        m.online += int(up or 0)
        m.hashrate_sum += float(h_sum or 0.0)
        m.hashrate_n += int(h_n or 0)
        m.power_sum += float(p_sum or 0.0)
        m.power_n += int(p_n or 0)
        m.energy_j += float(bucket_power or 0.0) * ROLLUP_S  # each bucket's mean power, 5 min
    return len(rows)


async def _sites(db: Database, miner_ids: list[str]) -> dict[str, str | None]:
    if not miner_ids:
        return {}
    async with db.session() as session:
        rows = await session.execute(select(FleetMinerRow.id, FleetMinerRow.site))
        wanted = set(miner_ids)
        return {miner_id: site for miner_id, site in rows if miner_id in wanted}
