"""The fleet service: inventory, the poller, alerts, commands and retention, as one Service.

Routes reach it as ``backend.services_by_name["fleet"]`` and use only the small interface
below (miners, history, alerts, commands); the poller's internals stay behind it.

Its `FleetRole` says how this process takes part: the default polls every miner (as one shard
under a lease when the database is shared, i.e. `DATABASE_URL` is set); a collector polls one
shard (`ShardCollector`); an API-only instance polls nothing and answers from `FleetView`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from backend.core.service import ServiceContext
from backend.fleet.acks import AckFollower, alert_view, alert_webhooks, silence, silences_for
from backend.fleet.alert_email import AlertMailer
from backend.fleet.alerts import CHANNEL as ALERTS_CHANNEL
from backend.fleet.alerts import Alert, AlertBook, RuleSet
from backend.fleet.collector import ShardCollector
from backend.fleet.commands import FleetCommands
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import ControlContext
from backend.fleet.inventory import MinerSpec, apply_labels, configured_miners, dedupe
from backend.fleet.listing import MinerLister, MinerQuery, SummaryCache
from backend.fleet.poller import CHANNEL as MINERS_CHANNEL
from backend.fleet.poller import READINGS_CHANNEL, MinerState, Poller, raise_fd_limit, tune_gc
from backend.fleet.report import fleet_section
from backend.fleet.shard import FleetRole, HeartbeatStore, ShardSpec
from backend.fleet.store import FleetStore
from backend.fleet.view import FleetView
from hashinsight_contract.fleet import (
    AlertRouting,
    AlertView,
    CapabilityOut,
    FleetSummary,
    HistoryPoint,
    MinerHistory,
    MinerList,
    MinerOut,
    Period,
)

log = logging.getLogger("hashinsight.fleet")

PERIODS: dict[str, tuple[float, bool]] = {  # period -> (seconds, from rollups)
    "1h": (3600, False),
    "6h": (6 * 3600, True),
    "24h": (86_400, True),
    "7d": (7 * 86_400, True),
    "30d": (30 * 86_400, True),
}
PRUNE_EVERY_S = 300.0
FD_HEADROOM = 1024


class FleetService:
    name: ClassVar[str] = "fleet"
    channels: ClassVar[frozenset[str]] = frozenset(
        {MINERS_CHANNEL, READINGS_CHANNEL, ALERTS_CHANNEL}
    )

    def __init__(
        self,
        context: ServiceContext,
        services: Callable[[], Mapping[str, object]] | None = None,
        *,
        role: FleetRole | None = None,
    ) -> None:
        self.context = context
        self.role = role or FleetRole()
        self.settings = context.settings
        self.clock = context.clock
        self.store = FleetStore(context.db)
        self.book = AlertBook(
            self.settings.fleet_alert_raise_sweeps, self.settings.fleet_alert_clear_sweeps
        )
        self.mailer = AlertMailer(self.settings, context.health)
        self.poller = Poller(
            self.settings,
            self.store,
            context.bus,
            self.clock,
            rules=RuleSet(self.settings),
            book=self.book,
            mailer=self.mailer,
            services=services or dict,
        )
        # Control credentials are Fernet-encrypted with the key of API keys (loaded on first use).
        self.credentials = CredentialStore(context.db, settings=self.settings)
        self.commands = FleetCommands(
            context.db,
            self.poller,
            self.clock,
            self.settings.fleet_command_concurrency,
            context=ControlContext(http=context.http.client),
            credentials=self.credentials,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self.collector: ShardCollector | None = None
        self.view: FleetView | None = None
        self._summaries = SummaryCache()  # the list's `fields=summary` objects
        # The poller replaces a miner's object when it polls; a view updates its objects.
        self._lister = MinerLister(stable_objects=self.role.collect)
        self.acks: AckFollower | None = None
        role = self.role
        if not role.collect:
            self.view = FleetView(
                self.store,
                HeartbeatStore(context.db),
                context.bus,
                self.clock,
                interval_s=self.poller.interval_s,
                stale_after_s=self.stale_after_s,
                power_price=self.settings.fleet_power_price_usd_kwh,
                live=bool(self.settings.redis_url),
                services=services or dict,
            )
        elif role.shard is not None or self.settings.database_url:
            self.collector = ShardCollector(
                context.db,
                self.clock,
                self.poller,
                role.shard or ShardSpec(),
                lease_ttl_s=self.settings.fleet_shard_lease_ttl_s,
                adopt=role.adopt,
                adopt_after_s=role.adopt_after_s or 2 * self.stale_after_s,
            )
            # Other instances on this database acknowledge alerts this process holds.
            self.acks = AckFollower(
                context.bus,
                self.store,
                self.book,
                interval_s=self.poller.interval_s,
                live=bool(self.settings.redis_url),
            )

    @property
    def stale_after_s(self) -> float:
        """How old a shard's heartbeat may be before its miners count as stale."""
        return self.settings.fleet_stale_after_s or 3 * self.poller.interval_s + 5.0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.reload_inventory()
        self.book.load([Alert.from_row(row) for row in await self.store.open_alerts()])
        self.poller.restore(await self.store.load_miners())
        if self.view is not None:
            await self.view.start()
            log.info("fleet: polling nothing here; showing %d miners", len(self.view.data))
            return
        if not self.settings.fleet_enabled:
            log.info("fleet polling disabled (fleet_enabled is false)")
            return
        self._ensure_fd_limit()
        tune_gc()
        if self.collector is not None:
            runner = self.collector.run()
            what = f"shard {self.collector.home.key}"
        else:
            runner = self.poller.run()
            what = f"{len(self.poller.states)} miners"
        self._tasks.append(asyncio.create_task(runner, name="fleet-poller"))
        if self.acks is not None:
            self.acks.start()
        self._tasks.append(asyncio.create_task(self._prune_loop(), name="fleet-prune"))
        log.info(
            "fleet: polling %s every %gs (concurrency %d)",
            what,
            self.poller.interval_s,
            self.poller.concurrency,
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.acks is not None:
            await self.acks.stop()
        if self.view is not None:
            await self.view.stop()
        if self.collector is not None:
            with contextlib.suppress(Exception):
                await self.collector.stop()
        rows = self.poller.rollup_rows_on_stop()
        if rows:
            from backend.fleet.store import SweepWrite

            with contextlib.suppress(Exception):
                await self.store.write_sweep(SweepWrite(rollups=rows))
        await self.mailer.aclose()

    def _ensure_fd_limit(self) -> None:
        """Each concurrent poll holds a socket; raise the soft open-file limit if needed."""
        needed = self.poller.concurrency + FD_HEADROOM
        before, after = raise_fd_limit(needed)
        if after > before:
            log.info("fleet: raised the open-file limit (ulimit -n) from %d to %d", before, after)
        if after < needed:
            fitted = max(16, after - FD_HEADROOM)
            log.warning(
                "fleet: open-file limit %d is below %d; polling with concurrency %d "
                "(raise `ulimit -n` for more)",
                after,
                needed,
                fitted,
            )
            self.poller.concurrency = min(self.poller.concurrency, fitted)

    async def reload_inventory(self) -> int:
        """Miners from settings plus the ones imported or discovered into the database."""
        now = self.clock.now()
        configured = configured_miners(self.settings)
        await self.store.ensure_miners(configured, "config", now)
        rows = await self.store.load_miners()
        stored = {row["id"]: row for row in rows if row.get("enabled", True)}
        specs: list[MinerSpec] = [
            apply_labels(spec, stored.get(spec.id, {})) for spec in configured
        ]
        specs += [
            MinerSpec(
                id=row["id"],
                host=row["host"],
                port=row["port"],
                name=row["name"],
                site=row["site"],
                rack=row["rack"],
                position=row["position"],
            )
            for row in rows
            if row.get("enabled", True) and row["source"] != "config"
        ]
        specs = dedupe(specs)
        if self.collector is not None:
            self.collector.set_inventory(specs)
            return len(specs)
        self.poller.set_inventory(specs)  # an API-only instance keeps it for commands
        if self.view is not None:
            states = self.poller.states
            self.view.set_inventory(specs, lambda spec: self.poller.miner_data(states[spec.id]))
        return len(specs)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            now = self.clock.now()
            try:
                await self.store.prune(
                    now - timedelta(hours=self.settings.fleet_raw_retention_h),
                    now - timedelta(days=self.settings.fleet_rollup_retention_d),
                )
            except Exception:  # retention failing must not stop the service
                log.exception("fleet: pruning old telemetry failed")

    # ------------------------------------------------------------------ reads

    def state(self, miner_id: str) -> MinerState | None:
        return self.poller.states.get(miner_id)

    def miners(self, *, summary: bool = False) -> list[dict[str, Any]]:
        if self.view is not None:
            return self.view.miners(summary=summary)
        data = self.poller.miner_data
        if summary:
            return self._summaries.rows((i, data(s)) for i, s in self.poller.states.items())
        return [data(state) for state in self.poller.states.values()]

    def miner_page(
        self, query: MinerQuery, *, summary: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the fleet list and how many miners matched its filters."""
        return self._lister.page(self.miners(summary=summary), query)

    def miner_list(self, query: MinerQuery, *, summary: bool = False) -> MinerList:
        """One page of the fleet list as the API answers it (validated once, per request)."""
        page, total = self.miner_page(query, summary=summary)
        return MinerList.model_validate(
            {"items": page, "total": total, "limit": query.limit, "offset": query.offset}
        )

    def miner(self, miner_id: str) -> dict[str, Any] | None:
        """The miner's API object as the poller keeps it (the list and the bus share it)."""
        if self.view is not None:
            return self.view.miner(miner_id)
        state = self.poller.states.get(miner_id)
        return self.poller.miner_data(state) if state is not None else None

    def miner_detail(self, miner_id: str) -> MinerOut | None:
        """One miner in full, with what its firmware lets us do where this process knows it."""
        miner = self.miner(miner_id)
        if miner is None:
            return None
        detail = MinerOut.model_validate(miner)
        if self.state(miner_id) is not None:
            capabilities = self.commands.capabilities(miner_id, miner)
            detail.capabilities = {
                name: CapabilityOut(supported=True)
                if c.supported
                else CapabilityOut(supported=False, reason=c.reason)
                for name, c in capabilities.items()
            }
        return detail

    def summary(self) -> FleetSummary:
        # The poller and the fleet view keep their totals as the `fleet.sweep` event's payload.
        if self.view is not None:
            return FleetSummary.model_validate(self.view.summary())
        return FleetSummary.model_validate(self.poller.summary())

    async def history(self, miner_id: str, period: Period) -> MinerHistory:
        seconds, rollups = PERIODS[period]
        since = self.clock.now() - timedelta(seconds=seconds)
        rows = await self.store.history(miner_id, since, rollups=rollups)
        points = [
            HistoryPoint(
                ts=row["ts"].timestamp(),
                hashrate_ths=row["hashrate_ths"],
                power_w=row["power_w"],
                temp_board_max_c=row["temp_board_max_c"],
                temp_chip_max_c=row["temp_chip_max_c"],
                status=row["status"],
            )
            for row in rows
        ]
        resolution = 300 if rollups else self.poller.interval_s
        return MinerHistory(id=miner_id, period=period, resolution_s=resolution, points=points)

    async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The report's fleet section: per miner and site totals measured over the period."""
        return await fleet_section(
            self.context.db,
            start,
            end,
            poll_interval_s=self.poller.interval_s,
        )

    # ------------------------------------------------------------------ alerts

    async def alerts(
        self, *, state: str | None, miner_id: str | None, limit: int, offset: int
    ) -> tuple[list[AlertView], int]:
        rows, total = await self.store.list_alerts(
            state=state, miner_id=miner_id, limit=limit, offset=offset
        )
        return await self.alert_views([Alert.from_row(row) for row in rows]), total

    async def alert_views(self, alerts: list[Alert]) -> list[AlertView]:
        """The alerts with where their miners are and the silences in force on them."""
        silences = await silences_for(self.context.db, [alert.id for alert in alerts])
        now = self.clock.now()
        views = []
        for alert in alerts:
            place = self.miner(alert.miner_id) or {}
            views.append(alert_view(alert, place, silences.get(alert.id), now))
        return views

    async def acknowledge(
        self, alert_id: int, *, actor: str, source: str | None = None, note: str | None = None
    ) -> AlertView | None:
        row = await self.store.acknowledge(
            alert_id, actor=actor, now=self.clock.now(), source=source, note=note
        )
        if row is None:
            return None
        alert = Alert.from_row(row)
        if alert.state == "acknowledged" and alert.acknowledged_by == actor:
            self.book.acknowledged(alert)
            self.context.bus.emit("alert.acknowledged", alert.out())
        return (await self.alert_views([alert]))[0]

    async def silence(
        self,
        alert_id: int,
        *,
        minutes: float,
        reason: str,
        actor: str,
        source: str | None = None,
    ) -> AlertView | None:
        """Silence an open alert (0 minutes lifts it); a cleared one comes back unchanged."""
        alert = await silence(
            self.context.db,
            self.context.bus,
            alert_id,
            minutes=minutes,
            reason=reason,
            actor=actor,
            now=self.clock.now(),
            source=source,
        )
        return None if alert is None else (await self.alert_views([alert]))[0]

    async def alert_routing(self) -> AlertRouting:
        """Where alerts go besides the consoles: email recipients and partner webhooks."""
        mailer = self.mailer
        return AlertRouting(
            email_enabled=bool(mailer is not None and mailer.enabled),
            email_recipients=len(mailer.recipients) if mailer is not None else 0,
            email_min_severity=self.settings.fleet_alert_email_min_severity,
            webhooks=await alert_webhooks(self.context.db),
        )
