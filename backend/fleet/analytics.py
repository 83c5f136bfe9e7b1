"""Fleet history for analytics: the raw samples aggregated in SQL, per miner per time bucket,
then summed over the fleet (a miner polled twice in a bucket counts once)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, select

from backend.core.db import Database
from backend.fleet.models import FleetSampleRow as S

FLEET_METRICS = ("fleet_hashrate", "fleet_power", "fleet_efficiency", "online_miners")


def bucket_seconds(span_s: float) -> int:
    """Finer buckets for shorter windows, so a week never returns tens of thousands of rows."""
    return 60 if span_s <= 3600 else 900 if span_s <= 86_400 else 3600


async def fleet_series(db: Database, start: float, end: float, interval: int) -> list[Any]:
    """Rows of (bucket start in unix s, hashrate TH/s, power W, miners online), oldest first."""
    if db.is_sqlite:
        epoch = cast(func.strftime("%s", S.ts), Integer)
        bucket = (epoch / interval) * interval
    else:
        bucket = func.floor(func.extract("epoch", S.ts) / interval) * interval
    online = case((S.status.in_(("offline", "error")), 0), else_=1)
    per_miner = (
        select(
            bucket.label("bucket"),
            S.miner_id,
            func.avg(S.hashrate_ths).label("h"),
            func.avg(S.power_w).label("p"),
            func.max(online).label("on"),
        )
        .where(S.ts >= datetime.fromtimestamp(start, UTC), S.ts <= datetime.fromtimestamp(end, UTC))
        .group_by("bucket", S.miner_id)
        .subquery()
    )
    query = (
        select(
            per_miner.c.bucket,
            func.sum(per_miner.c.h),
            func.sum(per_miner.c.p),
            func.sum(per_miner.c.on),
        )
        .group_by(per_miner.c.bucket)
        .order_by(per_miner.c.bucket)
    )
    async with db.session() as session:
        return list((await session.execute(query)).all())


async def fleet_metric(
    db: Database, metric: str, start: float, end: float
) -> list[tuple[float, float]]:
    """One of `FLEET_METRICS` over [start, end] as (unix s, value); empty buckets are left out."""
    points: list[tuple[float, float]] = []
    rows = await fleet_series(db, start, end, bucket_seconds(end - start))
    for bucket, hashrate, power, online in rows:
        t = float(bucket)
        if metric == "fleet_hashrate" and hashrate is not None:
            points.append((t, float(hashrate)))
        elif metric == "fleet_power" and power is not None:
            points.append((t, float(power)))
        elif metric == "fleet_efficiency" and hashrate and power is not None:
            points.append((t, float(power) / float(hashrate)))
        elif metric == "online_miners":
            points.append((t, float(online or 0)))
    return points
