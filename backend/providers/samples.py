"""Recorded market and network samples: our own history of what the providers told us.

Why: a provider's history endpoint (CoinGecko's market_chart, mempool's hashrate) can be down or
rate limited, and none of them serves difficulty or hashprice over time. Every fresh reading is
recorded (at most one per metric per `market_record_s`), so charts, the analytics API and the
notary report keep a history that survives restarts. Only live values are recorded: a cached or
stale value is never written as a new sample.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Float, Index, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.clock import Clock
from backend.core.db import Base, Database, UtcDateTime
from backend.core.lease import LeaseLost

log = logging.getLogger("hashinsight.market.samples")
Fence = Callable[[AsyncSession], Awaitable[object]]

# metric -> unit, as recorded
RECORDED: Final[dict[str, str]] = {
    "btc_price": "USD",
    "network_hashrate": "EH/s",
    "difficulty": "",
    "hashprice": "USD/PH/day",
}


class MarketSampleRow(Base):
    __tablename__ = "market_samples"
    __table_args__ = (Index("ix_market_samples_metric_ts", "metric", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(40))


class SampleRecorder:
    """Writes at most one sample per metric per `every_s`, and answers history over a window."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        every_s: float,
        keep_days: float,
        fence: Fence | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.every_s = every_s
        self.keep = timedelta(days=keep_days)
        # Run in each writing transaction; raises when this process may no longer record.
        self.fence = fence
        self._last_written: dict[str, tuple[float, float]] = {}  # metric -> (written, as_of)

    async def resume(self) -> None:
        """Continue from the newest recorded samples (another process may have written them),
        so taking over the recording does not write a sample the previous recorder just did."""
        query = select(MarketSampleRow.metric, func.max(MarketSampleRow.ts)).group_by(
            MarketSampleRow.metric
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        for metric, ts in rows:
            if ts is not None:
                self._last_written[metric] = (ts.timestamp(), ts.timestamp())

    async def record(self, values: dict[str, float | None], source: str, as_of: float) -> int:
        """Record the due metrics of one fresh reading; returns how many rows were written."""
        now = self.clock.time()
        due = {
            metric: value
            for metric, value in values.items()
            if metric in RECORDED and value is not None and self._due(metric, now, as_of)
        }
        if not due:
            return 0
        ts = datetime.fromtimestamp(as_of, UTC)
        try:
            async with self.db.session() as session:
                if self.fence is not None:
                    await self.fence(session)
                for metric, value in due.items():
                    session.add(
                        MarketSampleRow(metric=metric, ts=ts, value=value, source=source[:40])
                    )
        except LeaseLost:  # another process records now
            return 0
        except Exception as exc:  # a full disk must not stop the live view
            log.warning("could not record market samples: %s", type(exc).__name__)
            return 0
        for metric in due:
            self._last_written[metric] = (now, as_of)
        return len(due)

    def _due(self, metric: str, now: float, as_of: float) -> bool:
        """Once per `every_s` of our clock, and only a value the provider has since updated."""
        last = self._last_written.get(metric)
        return last is None or (now - last[0] >= self.every_s and as_of != last[1])

    async def series(
        self, metric: str, start: float, end: float, max_points: int = 2_000
    ) -> list[tuple[float, float, str]]:
        """(unix seconds, value, source) in [start, end], thinned evenly to `max_points`."""
        query = (
            select(MarketSampleRow.ts, MarketSampleRow.value, MarketSampleRow.source)
            .where(
                MarketSampleRow.metric == metric,
                MarketSampleRow.ts >= datetime.fromtimestamp(start, UTC),
                MarketSampleRow.ts <= datetime.fromtimestamp(end, UTC),
            )
            .order_by(MarketSampleRow.ts)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        step = max(1, -(-len(rows) // max_points))
        picked = rows[::step]
        if rows and picked[-1] is not rows[-1]:
            picked.append(rows[-1])  # the latest value is always shown
        return [(ts.timestamp(), value, source) for ts, value, source in picked]

    async def summary(self, metric: str, start: float, end: float) -> dict[str, Any]:
        """What a notarized report states about one metric over a period: first, last, range,
        mean and sample count, with the providers the samples came from."""
        window = (
            MarketSampleRow.metric == metric,
            MarketSampleRow.ts >= datetime.fromtimestamp(start, UTC),
            MarketSampleRow.ts <= datetime.fromtimestamp(end, UTC),
        )
        stats = select(
            func.count(),
            func.min(MarketSampleRow.value),
            func.max(MarketSampleRow.value),
            func.avg(MarketSampleRow.value),
        ).where(*window)
        ends = select(MarketSampleRow.ts, MarketSampleRow.value).where(*window)
        sources = select(MarketSampleRow.source).where(*window).distinct()
        async with self.db.session() as session:
            count, low, high, mean = (await session.execute(stats)).one()
            first = (await session.execute(ends.order_by(MarketSampleRow.ts).limit(1))).first()
            last = (
                await session.execute(ends.order_by(MarketSampleRow.ts.desc()).limit(1))
            ).first()
            names = sorted(await session.scalars(sources))
        result: dict[str, Any] = {"unit": RECORDED.get(metric, ""), "samples": int(count)}
        if count:
            assert first is not None and last is not None
            result.update(
                first={"at": first[0], "value": first[1]},
                last={"at": last[0], "value": last[1]},
                min=low,
                max=high,
                mean=mean,
                sources=names,
            )
        return result

    async def count(self, metric: str) -> int:
        async with self.db.session() as session:
            query = select(func.count()).where(MarketSampleRow.metric == metric)
            return int(await session.scalar(query) or 0)

    async def prune(self) -> int:
        cutoff = self.clock.now() - self.keep
        async with self.db.session() as session:
            result = await session.execute(
                delete(MarketSampleRow).where(MarketSampleRow.ts < cutoff)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
