"""Acknowledgements made on any instance reach the alert book of the process that polls the miner.

With several processes on one database an operator may acknowledge an alert on an API-only
instance (`serve --no-collect`) while a collector holds the alert in memory and writes its later
changes (its `alert.cleared` event carries the record it holds). The acknowledging instance
publishes `alert.acknowledged` on the bus; with Redis that event reaches every process at once.
The database is re-read on a timer as well: it heals an event lost in transit, and it is the
only way without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from backend.core.bus import EventBus, Subscription, SubscriptionClosed
from backend.fleet.alerts import CHANNEL, Alert, AlertBook
from backend.fleet.store import FleetStore

log = logging.getLogger("hashinsight.fleet.acks")

ACKNOWLEDGED = "alert.acknowledged"
RELOAD_WITH_REDIS_MIN_S = 30.0  # with Redis the events carry acks; the reload only heals


class AckFollower:
    def __init__(
        self, bus: EventBus, store: FleetStore, book: AlertBook, *, interval_s: float, live: bool
    ) -> None:
        self.store = store
        self.book = book
        # Like the fleet view: every poll interval without Redis, rarely with it.
        self.reload_s = max(RELOAD_WITH_REDIS_MIN_S, 6 * interval_s) if live else interval_s
        self.applied = 0
        self._bus = bus
        self._events: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._events = self._bus.subscribe({CHANNEL}, maxsize=10_000, name="fleet-acks")
        self._task = asyncio.create_task(self._run(self._events), name="fleet-acks")

    async def stop(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def apply(self, alert: Alert) -> None:
        """Mark the book's open record acknowledged (if it is this alert and still raised)."""
        record = self.book.open.get((alert.miner_id, alert.rule))
        if record is not None and record.id == alert.id and record.state == "raised":
            self.book.acknowledged(alert)
            self.applied += 1

    async def reload(self) -> None:
        if not any(record.state == "raised" for record in self.book.open.values()):
            return  # nothing here waits for an acknowledgement
        for row in await self.store.open_alerts():
            if row.state == "acknowledged":
                self.apply(Alert.from_row(row))

    async def _run(self, events: Subscription) -> None:
        loop = asyncio.get_running_loop()
        next_reload = loop.time() + self.reload_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_reload - loop.time())):
                    event = await events.get()
            except TimeoutError:
                next_reload = loop.time() + self.reload_s
                try:
                    await self.reload()
                except Exception as exc:  # the next round tries again
                    log.warning("fleet: re-reading acknowledgements failed: %s", type(exc).__name__)
                continue
            except SubscriptionClosed:
                return
            if event.type == ACKNOWLEDGED:
                try:
                    self.apply(Alert.from_dict(event.data))
                except (KeyError, TypeError, ValueError):
                    log.warning("ignored a malformed %s event", ACKNOWLEDGED)
