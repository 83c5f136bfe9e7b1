"""Acknowledgements made on any instance reach the alert book of the process that polls the miner.

With several processes on one database an operator may acknowledge an alert on an API-only
instance (`serve --no-collect`) while a collector holds the alert in memory and writes its later
changes (its `alert.cleared` event carries the record it holds). The acknowledging instance
publishes `alert.acknowledged` on the bus; with Redis that event reaches every process at once.
The database is re-read on a timer as well: it heals an event lost in transit, and it is the
only way without Redis.

Silences live here too: like an acknowledgement, they are an operator's word on an alert that
every instance and console must read the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.audit import record_audit
from backend.core.bus import EventBus, Subscription, SubscriptionClosed
from backend.core.db import Base, Database, UtcDateTime
from backend.fleet.alerts import CHANNEL, Alert, AlertBook
from backend.fleet.models import FleetAlertRow
from backend.fleet.store import FleetStore
from hashinsight_contract.events import AlertSilenced
from hashinsight_contract.fleet import AlertView

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


# ---------------------------------------------------------------------------- silences
#
# A silence takes an open alert out of the on-call count for a while, with a reason, without
# pretending its condition is gone: the alert stays open, email and webhooks are unchanged, and
# once the time has passed the alert counts again. One row per alert (a new silence replaces the
# old one), so every instance and every console reads the same answer from the database.

SILENCED = "alert.silenced"
MAX_SILENCE_MIN = 7 * 24 * 60


class AlertSilenceRow(Base):
    __tablename__ = "fleet_alert_silences"

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    miner_id: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    silenced_at: Mapped[datetime] = mapped_column(UtcDateTime)
    silenced_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)


def silence_fields(row: AlertSilenceRow | None, now: datetime) -> dict[str, Any]:
    """The silence as the API shows it on an alert; nothing once it has run out."""
    if row is None or row.until <= now:
        return {"silenced_until": None, "silenced_by": None, "silence_reason": None}
    return {
        "silenced_until": row.until.timestamp(),
        "silenced_by": row.silenced_by,
        "silence_reason": row.reason,
    }


def alert_view(
    alert: Alert, place: Mapping[str, Any], row: AlertSilenceRow | None, now: datetime
) -> AlertView:
    """The alert as the API shows it: where its miner is, and the silence still in force."""
    return AlertView(
        **alert.out().model_dump(),
        site=place.get("site"),
        rack=place.get("rack"),
        position=place.get("position"),
        **silence_fields(row, now),
    )


async def silences_for(db: Database, alert_ids: list[int]) -> dict[int, AlertSilenceRow]:
    """The silence rows of these alerts (expired ones too: the caller judges the time)."""
    if not alert_ids:
        return {}
    async with db.session() as session:
        rows = await session.scalars(
            select(AlertSilenceRow).where(AlertSilenceRow.alert_id.in_(alert_ids))
        )
        return {row.alert_id: row for row in rows}


async def silence(
    db: Database,
    bus: EventBus,
    alert_id: int,
    *,
    minutes: float,
    reason: str,
    actor: str,
    now: datetime,
    source: str | None = None,
) -> Alert | None:
    """Silence an open alert for `minutes` (0 lifts a silence); audited and published.

    None if there is no such alert; a cleared alert is returned unchanged (nothing to silence).
    """
    async with db.session() as session:
        alert = await session.get(FleetAlertRow, alert_id)
        if alert is None:
            return None
        row = await session.get(AlertSilenceRow, alert_id)
        if alert.state != "cleared":
            until = now + timedelta(minutes=max(0.0, min(minutes, MAX_SILENCE_MIN)))
            if row is None:
                row = AlertSilenceRow(alert_id=alert_id, miner_id=alert.miner_id, rule=alert.rule)
                session.add(row)
            row.until, row.silenced_at, row.silenced_by, row.reason = until, now, actor, reason
            record_audit(
                session,
                actor=actor,
                action="fleet.alert.silence" if minutes > 0 else "fleet.alert.unsilence",
                target=alert.miner_id,
                source=source,
                detail={
                    "alert_id": alert_id,
                    "rule": alert.rule,
                    "minutes": minutes,
                    "reason": reason,
                },
            )
        record = Alert.from_row(alert)
        event = AlertSilenced(**record.out().model_dump(), **silence_fields(row, now))
    if alert.state != "cleared":
        bus.emit(SILENCED, event)
    return record


async def alert_webhooks(db: Database) -> int:
    """How many active partner webhooks receive fleet alerts (shown where alerts go)."""
    from backend.notify.models import WebhookRow

    async with db.session() as session:
        rows = await session.scalars(
            select(WebhookRow.event_types).where(WebhookRow.status == "active")
        )
        return sum(1 for types in rows if {"miner.alert", "miner.offline"} & set(types.split()))
