"""Historical analytics: one metric over time, bucketed by the period's interval.

`period` picks the window when `start`/`end` are not given, and the bucket size in any case:
1h → 1-minute buckets over the last hour, 1d → 15 minutes over a day, 1w → 1 hour over a week,
1m → 6 hours over 30 days. Values in a bucket are averaged; empty buckets are left out.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from backend.analytics.registry import KNOWN_METRICS, MetricUnavailable, get_source, metrics
from backend.api.deps import BackendDep, ReadKey
from backend.api.errors import ApiError
from backend.api.params import aware_utc
from hashinsight_contract.partners import ERRORS, HistoricalOut, MetricList, MetricOut, PointOut

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=ERRORS)

PERIODS: dict[str, tuple[int, int]] = {
    "1h": (3600, 60),
    "1d": (86_400, 900),
    "1w": (7 * 86_400, 3600),
    "1m": (30 * 86_400, 6 * 3600),
}
MAX_SPAN_S = 2 * 366 * 86_400


def _epoch(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or not 0 <= number < 1e11:
            raise ApiError(422, f"{name}: not a usable unix time")
        return number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"{name}: give unix seconds or an ISO-8601 time") from None
    return aware_utc(parsed, name).timestamp()


@router.get("/metrics", response_model=MetricList, summary="Metrics and whether they have data")
async def list_metrics(_key: ReadKey, backend: BackendDep) -> MetricList:
    items = []
    for name in metrics():
        source = get_source(name)
        unit, text = KNOWN_METRICS.get(
            name, (source.unit, source.description) if source else ("", "")
        )
        reason = (
            "no source records this metric's history in this backend yet"
            if source is None
            else source.unavailable(backend)
        )
        items.append(
            MetricOut(
                name=name, unit=unit, description=text, available=reason is None, reason=reason
            )
        )
    return MetricList(items=items)


@router.get(
    "/historical",
    response_model=HistoricalOut,
    summary="History of one metric (422: unknown metric; 404: no history for it here)",
)
async def historical(
    _key: ReadKey,
    backend: BackendDep,
    metric: Annotated[str, Query(min_length=1, max_length=40)],
    period: Literal["1h", "1d", "1w", "1m"] = "1d",
    start: Annotated[str | None, Query(max_length=40, description="unix s or ISO-8601")] = None,
    end: Annotated[str | None, Query(max_length=40, description="unix s or ISO-8601")] = None,
) -> HistoricalOut:
    if metric not in metrics():
        raise ApiError(422, f"unknown metric {metric!r}; known: {', '.join(metrics())}")
    window, interval = PERIODS[period]
    end_s = _epoch(end, "end")
    end_s = time.time() if end_s is None else end_s
    start_s = _epoch(start, "start")
    start_s = end_s - window if start_s is None else start_s
    if start_s >= end_s:
        raise ApiError(422, "start must be before end")
    if end_s - start_s > MAX_SPAN_S:
        raise ApiError(422, "the time range may span at most two years")
    source = get_source(metric)
    if source is None:
        raise ApiError(404, f"{metric}: no source records its history in this backend yet")
    reason = source.unavailable(backend)
    if reason is not None:
        raise ApiError(404, f"{metric}: {reason}")
    try:
        raw, label = await source.fetch(backend, start_s, end_s)
    except MetricUnavailable as exc:
        raise ApiError(404, str(exc)) from None
    buckets: dict[int, list[float]] = {}
    for t, value in raw:
        buckets.setdefault(int(t // interval * interval), []).append(value)
    points = [
        PointOut(t=float(t), value=sum(values) / len(values))
        for t, values in sorted(buckets.items())
    ]
    return HistoricalOut(
        metric=metric,
        unit=source.unit,
        period=period,
        interval_s=interval,
        start=start_s,
        end=end_s,
        source=label,
        count=len(points),
        points=points,
    )
