"""Which process polls the market and chain providers and records their samples.

Several processes may share one database and one Redis (collectors, API instances). Left alone,
each would call every provider and record every sample: N processes, N times the calls (and the
rate limits of free tiers) and N copies of the history. With both `DATABASE_URL` and `REDIS_URL`
set, only the holder of the `market` lease polls and records; every other process takes the
holder's last good values from the shared cache in Redis on the same schedule (and history from
the recorded samples when a provider's history is unavailable). The holder renews every TTL/3;
when it dies another process takes over once the lease expires (at once on the same host, where
the dead pid is seen). Sample writes are fenced, so a holder that stalled past its lease cannot
record next to its successor. Without both settings every process polls for itself, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.lease import Lease, LeaseInfo
from backend.core.service import ServiceContext
from backend.providers.samples import SampleRecorder

log = logging.getLogger("hashinsight.market.leader")

LEASE_NAME = "market"
HEALTH_NAME = "market-lease"
OnGain = Callable[[], Awaitable[None]]


def fresh_window_s(poll_s: float) -> float:
    """How old the holder's latest value may be and still count as live elsewhere: one missed
    round plus slack."""
    return 2 * poll_s + 5.0


class ProviderLeader:
    """`polls` says whether this process calls the providers now."""

    def __init__(
        self, db: Database, clock: Clock, health: HealthRegistry, *, shared: bool, ttl_s: float
    ) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.lease = Lease(db, clock, ttl_s, name=LEASE_NAME) if shared else None
        self.holder: LeaseInfo | None = None  # the current holder as last read
        self._health = health
        self._on_gain: list[OnGain] = []
        self._followed: list[str] = []  # health items of the providers polled under this lease
        self._task: asyncio.Task[None] | None = None
        if self.lease is not None:
            health.register(HEALTH_NAME, "lease", "market and chain providers, samples")

    @property
    def shared(self) -> bool:
        return self.lease is not None

    @property
    def polls(self) -> bool:
        return self.lease is None or self.lease.held

    def follows(self, names: Iterable[str]) -> None:
        """Health items of providers polled only by the holder: elsewhere they say who polls
        them, instead of a bare "unknown" or, in a former holder, its last verdict for ever."""
        self._followed.extend(name for name in names if name not in self._followed)

    def on_gain(self, callback: OnGain) -> None:
        """Run `callback` each time this process becomes the holder (before it polls)."""
        self._on_gain.append(callback)

    def recorder(self, context: ServiceContext) -> SampleRecorder:
        """The sample recorder of a service that polls under this lease (market, chain): fenced
        when the lease is shared, and continuing the record from the newest rows on takeover."""
        settings = context.settings
        recorder = SampleRecorder(
            context.db,
            context.clock,
            every_s=settings.market_record_s,
            keep_days=settings.market_keep_days,
            fence=self.fence if self.shared else None,
        )
        self.on_gain(recorder.resume)
        return recorder

    async def fence(self, session: AsyncSession) -> None:
        """Inside a sample-writing transaction: raise `LeaseLost` unless we still hold it."""
        if self.lease is not None:
            await self.lease.fence(session)

    async def start(self) -> None:
        if self.lease is None:
            return
        await self.round()
        self._task = asyncio.create_task(self._loop(), name="market-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.lease is not None:
            try:
                await self.lease.release()  # the next holder starts at once
            except Exception as exc:
                log.warning("market: releasing the lease failed: %s", type(exc).__name__)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            await self.round()

    async def round(self) -> None:
        """Renew (or try to take) the lease, then read who holds it, for the health view."""
        assert self.lease is not None
        had = self.lease.held
        try:
            held = await self.lease.renew()
            self.holder = await self.lease.current()
        except Exception as exc:  # the database is unreachable: keep polling only while held
            self._health.failure(HEALTH_NAME, f"lease unreadable: {type(exc).__name__}")
            return
        if held and not had:
            log.info("market: this process now polls the providers (token %s)", self.lease.token)
            for callback in self._on_gain:
                try:
                    await callback()
                except Exception as exc:  # polling must start even so
                    log.warning("market: taking over: %s", type(exc).__name__)
        elif had and not held:
            log.warning("market: the providers' lease went to another process")
        self._report()
        if not held:
            self._mark_followed()

    def describe(self) -> dict[str, Any]:
        holder = self.holder
        return {
            "lease": LEASE_NAME,
            "shared": self.shared,
            "polls_here": self.polls,
            "holder": holder.holder if holder else None,
            "expires_at": holder.expires_at.isoformat() if holder else None,
        }

    def _mark_followed(self) -> None:
        holder = self.holder
        if holder is not None and holder.expires_at > self.clock.now():
            detail = f"not polled here: polled by {holder.holder}"
        else:
            detail = "not polled here: no process holds the providers' lease now"
        for name in self._followed:
            item = self._health.get(name)
            if item is None or item.status == "disabled":
                continue
            if (item.status, item.detail) != ("unknown", detail):
                self._health.set_status(name, "unknown", detail)

    def _report(self) -> None:
        """Health says who polls; reported when that changes (each report is a bus event)."""
        holder = self.holder
        assert self.lease is not None
        item = self._health.get(HEALTH_NAME)
        if self.lease.held:
            detail = f"polled here ({self.lease.holder})"
        elif holder is not None and holder.expires_at > self.clock.now():
            detail = f"polled by {holder.holder}"
        else:
            if item is None or item.status != "degraded":
                self._health.set_status(HEALTH_NAME, "degraded", "no process holds it now")
            return
        if item is None or item.status != "ok" or item.detail != detail:
            self._health.success(HEALTH_NAME, 0.0, detail)
