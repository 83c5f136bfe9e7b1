"""The fleet section of a notarized report: per miner and per site totals over a period.

Why from the database and not the live view: a report states what was measured over its period,
so it reads the 5-minute rollups (or, for a period still inside the raw-sample window, the raw
samples), never the current snapshot. Energy is each miner's mean power times the time it was
measured; uptime is the share of polls that found the miner answering.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from backend.core.db import Database
from backend.fleet.models import FleetMinerRow, FleetRollupRow, FleetSampleRow

ROLLUP_S = 300.0


async def fleet_section(
    db: Database,
    start: datetime,
    end: datetime,
    *,
    poll_interval_s: float,
    raw_retention: timedelta,
    now: datetime,
) -> dict[str, Any]:
    raw = start >= now - raw_retention
    per_miner = await (_from_raw(db, start, end) if raw else _from_rollups(db, start, end))
    sites = await _sites(db, [row[0] for row in per_miner])
    miners: list[dict[str, Any]] = []
    by_site: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for miner_id, polls, online, hashrate, power, measured_s in per_miner:
        seconds = measured_s if measured_s is not None else polls * poll_interval_s
        energy_kwh = power * seconds / 3.6e6 if power is not None else None
        site = sites.get(miner_id) or "(no site)"
        miners.append(
            {
                "miner_id": miner_id,
                "site": site,
                "polls": polls,
                "uptime_pct": round(100.0 * online / polls, 3) if polls else None,
                "hashrate_avg_ths": hashrate,
                "power_avg_w": power,
                "energy_kwh": energy_kwh,
                "efficiency_jth": power / hashrate if power is not None and hashrate else None,
            }
        )
        totals = by_site[site]
        totals["miners"] += 1
        totals["polls"] += polls
        totals["online"] += online
        totals["hashrate_avg_ths"] += hashrate or 0.0
        totals["power_avg_w"] += power or 0.0
        totals["energy_kwh"] += energy_kwh or 0.0
    return {
        "source": "raw samples" if raw else "5-minute rollups",
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


async def _from_raw(db: Database, start: datetime, end: datetime) -> list[Any]:
    online = case((FleetSampleRow.status.in_(("offline", "error")), 0), else_=1)
    query = (
        select(
            FleetSampleRow.miner_id,
            func.count(),
            func.sum(online),
            func.avg(FleetSampleRow.hashrate_ths),
            func.avg(FleetSampleRow.power_w),
        )
        .where(FleetSampleRow.ts >= start, FleetSampleRow.ts < end)
        .group_by(FleetSampleRow.miner_id)
        .order_by(FleetSampleRow.miner_id)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [(m, int(n), int(up or 0), h, p, None) for m, n, up, h, p in rows]


async def _from_rollups(db: Database, start: datetime, end: datetime) -> list[Any]:
    query = (
        select(
            FleetRollupRow.miner_id,
            func.sum(FleetRollupRow.samples),
            func.sum(FleetRollupRow.online),
            func.avg(FleetRollupRow.hashrate_ths),
            func.avg(FleetRollupRow.power_w),
            func.count(FleetRollupRow.power_w),
        )
        .where(FleetRollupRow.ts >= start, FleetRollupRow.ts < end)
        .group_by(FleetRollupRow.miner_id)
        .order_by(FleetRollupRow.miner_id)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [(m, int(n or 0), int(up or 0), h, p, b * ROLLUP_S) for m, n, up, h, p, b in rows]


async def _sites(db: Database, miner_ids: list[str]) -> dict[str, str | None]:
    if not miner_ids:
        return {}
    async with db.session() as session:
        rows = await session.execute(select(FleetMinerRow.id, FleetMinerRow.site))
        wanted = set(miner_ids)
        return {miner_id: site for miner_id, site in rows if miner_id in wanted}
