"""The fleet poller: sweeps every miner on a schedule, never two sweeps at once.

One sweep = poll the due miners through a bounded pool of workers (no task per miner), then
one synchronous pass over the answers (``_digest``): reachability, alert rules, economics,
database rows, events; then ONE database transaction; then the events (``miner.update`` for
changed miners only, one ``fleet.readings``, one ``fleet.sweep``). Each step has its module:
``reachability`` (backoff of unreachable miners), ``reboots``, ``alerts``, ``economics``,
``sweep_rows`` (what is stored), ``sweep_events`` (what is published, and its deadband). The
next sweep is armed after this one ends, so a slow sweep delays the next instead of piling up.

Each miner keeps one ``CgminerClient`` (it remembers which command joins the firmware
refuses) and, once its firmware family is known, is asked for exactly the commands that
family needs in one joined request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.core.lease import Lease
from backend.fleet import transport
from backend.fleet.alert_email import AlertMailer
from backend.fleet.alerts import AlertBook, RuleSet, SweepAlerts
from backend.fleet.client import (
    POLL_COMMANDS,
    CgminerClient,
    MultiOutcome,
    first_contact,
    snapshot_for_error,
)
from backend.fleet.codec import CgminerError
from backend.fleet.economics import NO_HASHPRICE, Hashprice, Prices, read_hashprice
from backend.fleet.inventory import MinerSpec
from backend.fleet.miner_state import MinerState
from backend.fleet.normalize import (
    FAMILY_ANTMINER,
    FAMILY_BRAIINS,
    FAMILY_CGMINER,
    FAMILY_UNKNOWN,
    FAMILY_WHATSMINER,
    MinerSnapshot,
)
from backend.fleet.plausible import is_suspect
from backend.fleet.reachability import Backoff
from backend.fleet.reboots import RebootSeen, RebootWindows
from backend.fleet.settings import FleetSettings as Settings
from backend.fleet.shape_reader import read_snapshot
from backend.fleet.store import FleetStore, SweepWrite
from backend.fleet.sweep_events import READING_FIELDS as READING_FIELDS
from backend.fleet.sweep_events import READINGS, READINGS_CHANNEL, SweepEvents
from backend.fleet.sweep_rows import SweepRows, rollups_on_stop
from backend.fleet.totals import MinerFigures, fleet_totals

log = logging.getLogger("hashinsight.fleet")

CHANNEL = "miners"
# A whole-fleet summary after each sweep. A collector of one shard publishes its partial summary
# as SHARD_SWEEP instead: API instances add the shards up and publish FLEET_SWEEP themselves.
FLEET_SWEEP = "fleet.sweep"
SHARD_SWEEP = "fleet.shard_sweep"
# One joined request per sweep once the family is known (measured against the simulator and
# the captured fixtures: each family answers everything below in one reply).
PLANS: dict[str, tuple[str, ...]] = {
    FAMILY_ANTMINER: ("summary", "stats", "pools", "devs"),
    FAMILY_WHATSMINER: ("summary", "pools", "devs", "devdetails"),
    FAMILY_BRAIINS: (
        "version",
        "summary",
        "pools",
        "stats",
        "devs",
        "fans",
        "temps",
        "devdetails",
        "tunerstatus",
    ),
    FAMILY_CGMINER: POLL_COMMANDS,
}
SUMMARY_OMITS = ("boards", "pools")
_SETTLED = (dict, Exception)  # a started poll's outcome with nothing left to await


class Poller:
    def __init__(
        self,
        settings: Settings,
        store: FleetStore,
        bus: EventBus,
        clock: Clock,
        *,
        rules: RuleSet,
        book: AlertBook,
        mailer: AlertMailer | None,
        services: Callable[[], Mapping[str, object]] = dict,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.rules = rules
        self.book = book
        self.mailer = mailer
        self._services = services
        self.backoff = Backoff(settings.fleet_poll_interval_s, settings.fleet_backoff_max_s)
        self.concurrency = settings.fleet_concurrency
        self.states: dict[str, MinerState] = {}
        self.hashprice: Hashprice = NO_HASHPRICE
        self.last_sweep: dict[str, Any] = {
            "started_at": None,
            "duration_s": None,
            "miners": 0,
            "errors": 0,
            "interval_s": self.interval_s,
        }
        self.sweeps = 0
        # restarts we sent, by miner id: while one lasts, the miner being dark is expected
        self.rebooting = RebootWindows()
        # Told how restart commands' reboot windows ended (the command service verifies them).
        self.on_reboots: Callable[[list[RebootSeen]], None] | None = None
        self._summary: dict[str, Any] | None = None
        self._lock = asyncio.Lock()  # one sweep at a time, even when asked from outside
        # The leases a sweep's writes are fenced with (a sharded collector sets this); taken
        # when the sweep starts, so a shard lost meanwhile still fences, and refuses, the write.
        self.fences: Callable[[], Sequence[Lease]] = tuple
        self.sweep_event = FLEET_SWEEP

    @property
    def interval_s(self) -> float:
        """Seconds from one sweep's start to the next's (the backoff counts in these)."""
        return self.backoff.interval_s

    @interval_s.setter
    def interval_s(self, seconds: float) -> None:
        self.backoff.interval_s = seconds

    # ------------------------------------------------------------------ inventory

    def set_inventory(self, specs: Iterable[MinerSpec]) -> None:
        """Adopt the miner list; known miners keep their client, state and backoff."""
        now = self.clock.time()
        fresh: dict[str, MinerState] = {}
        for spec in specs:
            state = self.states.get(spec.id)
            if state is None or (state.spec.host, state.spec.port) != (spec.host, spec.port):
                state = MinerState(spec, self._client(spec), now)
            else:
                state.spec = spec
                state.data = None
            fresh[spec.id] = state
        for gone in set(self.states) - set(fresh):
            self.book.forget_miner(gone)
        self.states = fresh
        self._summary = None

    def _client(self, spec: MinerSpec) -> CgminerClient:
        return CgminerClient(
            spec.host,
            spec.port,
            connect_timeout=self.settings.fleet_connect_timeout_s,
            read_timeout=self.settings.fleet_read_timeout_s,
        )

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Last known state from the database, shown until the first sweep answers."""
        import json

        for row in rows:
            state = self.states.get(row["id"])
            if state is None or not row.get("snapshot"):
                continue
            try:
                data = json.loads(row["snapshot"])
            except ValueError:
                continue
            data.update(_labels(state.spec))
            data["open_alerts"] = self.book.open_count(state.spec.id)
            state.data = data
            state.last_seen = data.get("last_seen")
            state.polled_at = data.get("polled_at")

    # ------------------------------------------------------------------ schedule

    async def run(self) -> None:
        """Sweep forever; the next sweep is armed when this one has finished."""
        while True:
            started = self.clock.monotonic()
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one sweep must not end polling
                log.exception("fleet sweep failed")
            elapsed = self.clock.monotonic() - started
            await asyncio.sleep(max(0.05, self.interval_s - elapsed))

    def expect_reboot(self, miner_id: str, why: str, command_id: str | None = None) -> None:
        """A restart was sent: while ``fleet_reboot_grace_s`` lasts, the miner going dark is
        shown as rebooting and raises no offline alert; answering again ends the window, and
        how it ended goes to ``on_reboots`` for the command's verification."""
        grace = self.settings.fleet_reboot_grace_s
        if grace > 0 and miner_id in self.states:
            self.rebooting.expect(miner_id, why, self.clock.time(), grace, command_id)
        self.request_poll(miner_id)

    def request_poll(self, miner_id: str) -> None:
        """Poll this miner at the next sweep even if it is backing off (after a command)."""
        state = self.states.get(miner_id)
        if state is not None:
            self.backoff.reset(state)

    # ------------------------------------------------------------------ one sweep

    async def sweep(self) -> dict[str, Any]:
        async with self._lock:
            return await self._sweep()

    async def _sweep(self) -> dict[str, Any]:
        started_wall = self.clock.time()
        started = self.clock.monotonic()
        fences = tuple(self.fences())
        due = self.backoff.due(self.states.values(), started)
        await self._poll_all(due)
        polled_at = self.clock.time()
        self.hashprice = read_hashprice(self._services(), self.clock.time())
        batch, events, alerts = self._digest(due, started, polled_at)
        ids = await self.store.write_sweep(batch, fences)
        for alert, alert_id in zip(alerts.raised, ids, strict=False):
            alert.id = alert_id
        errors = sum(1 for s in due if s.status in ("offline", "error"))
        self.sweeps += 1
        self.last_sweep = {
            "started_at": started_wall,
            "duration_s": round(self.clock.monotonic() - started, 3),
            "miners": len(due),
            "errors": errors,
            "interval_s": self.interval_s,
        }
        self._summary = None
        summary = self.summary()
        self._publish(events, alerts, summary, polled_at)
        if self.rebooting.ended and self.on_reboots is not None:
            self.on_reboots(self.rebooting.take_ended())
        return summary

    async def _poll_all(self, due: list[MinerState]) -> None:
        """Every due miner polled, ``concurrency`` at a time.

        A miner whose firmware plan is known is one joined exchange driven by the transport's
        completion callback and read as its reply arrives: no task, future or coroutine frame
        a miner. First contacts, and plans that need more requests or a reply parsed off the
        loop, run as tasks (``_poll``).
        """
        loop = asyncio.get_running_loop()
        queue = iter(due)
        limit = max(1, min(self.concurrency, len(due)))
        all_done: asyncio.Future[None] = loop.create_future()
        running: dict[int, transport.Exchange] = {}  # by id(state): exchanges in flight
        tasks: set[asyncio.Task[None]] = set()
        inflight = 0
        filling = False

        def release() -> None:
            nonlocal inflight
            inflight -= 1
            fill()

        def fill() -> None:
            # A loop, not recursion: an exchange can finish inside its own start (refused).
            nonlocal inflight, filling
            if filling or all_done.done():
                return
            filling = True
            try:
                while inflight < limit:
                    state = next(queue, None)
                    if state is None:
                        if inflight == 0:
                            all_done.set_result(None)
                        return
                    inflight += 1
                    start(state)
            finally:
                filling = False

        def spawn(state: MinerState, work: Coroutine[Any, Any, MinerSnapshot]) -> None:
            async def run() -> None:
                state.reading = await work

            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(lambda done: (tasks.discard(done), release()))

        def start(state: MinerState) -> None:
            plan = PLANS.get(state.family or "")
            if plan is None:
                spawn(state, self._poll(state))
                return

            def finished(outcome: MultiOutcome) -> None:
                running.pop(id(state), None)
                if isinstance(outcome, _SETTLED):
                    state.reading = self._settled(state, outcome)
                    release()
                else:  # more requests, or a hostile reply to parse off the loop
                    spawn(state, self._settled_later(state, outcome))

            try:
                exchange = state.client.start_multi(plan, finished)
            except Exception as exc:  # e.g. an address the socket refuses outright
                state.reading = self._settled(state, exc)
                release()
                return
            if exchange is None:
                spawn(state, self._poll(state))
            elif not exchange.finished:
                running[id(state)] = exchange

        fill()
        try:
            await all_done
        finally:  # cancelled: reset what is in flight, as cancelling a coroutine poll does
            for exchange in list(running.values()):
                exchange.abandon()
            for task in list(tasks):
                task.cancel()

    async def _poll(self, state: MinerState) -> MinerSnapshot:
        """One miner by coroutines (first contact, or a plan ``start_multi`` cannot start);
        never raises for miner trouble."""
        plan = PLANS.get(state.family or "")
        if plan is not None:
            return await self._settled_later(state, state.client.multi(plan))
        try:
            replies, family = await first_contact(state.client)
        except Exception as exc:
            return self._settled(state, exc)
        snap = self._settled(state, replies)
        answered = snap.status != "error" or is_suspect(snap.error)
        if answered and family != FAMILY_UNKNOWN:
            state.family = family
        return snap

    async def _settled_later(
        self, state: MinerState, work: Coroutine[Any, Any, dict[str, dict[str, Any]]]
    ) -> MinerSnapshot:
        """``_settled`` for a poll still under way."""
        try:
            replies = await work
        except Exception as exc:
            return self._settled(state, exc)
        return self._settled(state, replies)

    def _settled(self, state: MinerState, outcome: Mapping[str, Any] | Exception) -> MinerSnapshot:
        """A poll's replies read, or the failure that ended it, as one snapshot: miner trouble
        in plain words, and a parser bug on one miner logged without stopping the sweep."""
        try:
            if isinstance(outcome, Exception):
                raise outcome
            return read_snapshot(outcome)
        except CgminerError as exc:
            return snapshot_for_error(exc)
        except Exception as exc:
            log.exception("unexpected error polling %s", state.spec.id)
            return MinerSnapshot.failed(f"internal error: {type(exc).__name__}")

    # ------------------------------------------------------------------ after polling

    def _digest(
        self, due: list[MinerState], started: float, now: float
    ) -> tuple[SweepWrite, SweepEvents, SweepAlerts]:
        """Everything CPU-bound after the polls, in one pass over the polled miners."""
        rows = SweepRows(now)
        events = SweepEvents()
        alerts = SweepAlerts()
        money = Prices(self.hashprice.usd_per_th_day, self.settings.fleet_power_price_usd_kwh).money
        backoff, judge, open_count = self.backoff, self._judge, self.book.open_count
        sample, publish, now_dt = rows.poll, events.add, rows.now_dt  # bound once: 10,000 calls
        for state in due:
            snap = state.take_reading(now)
            suspect = is_suspect(snap.error)
            if snap.status in ("online", "sleeping") or suspect:  # suspect: answered, promptly
                state.last_seen = now
                backoff.reset(state)
            else:
                backoff.missed(state, started)
            judge(state, snap, now, now_dt, alerts)
            state.money = money(snap)
            sample(state, snap, suspect)
            state.data = None
            if publish(state, snap, open_count(state.spec.id)):
                rows.miner(state, self.miner_data(state))
        if alerts.raised or alerts.cleared:
            rows.alerts(alerts)
        return rows.batch, events, alerts

    def _judge(
        self, state: MinerState, snap: MinerSnapshot, now: float, now_dt: datetime, out: SweepAlerts
    ) -> None:
        """The alert rules on one poll; inside a reboot we asked for, dark is expected: no
        offline rule is judged and the miner is polled every sweep to see it come back."""
        found, judged = self.rules.evaluate(snap, state.prev_hw, now)
        miner_id, rebooting = state.spec.id, self.rebooting
        if (
            rebooting
            and miner_id in rebooting
            and rebooting.hold(miner_id, snap, now, self.interval_s)
        ):
            found, judged = {}, frozenset()
            self.backoff.reset(state)
        if snap.status == "online":
            state.prev_hw = (now, snap.hardware_errors)
        self.book.observe(miner_id, found, judged, now_dt, out)

    def _publish(
        self, events: SweepEvents, alerts: SweepAlerts, summary: dict[str, Any], polled_at: float
    ) -> None:
        bus = self.bus
        for alert in alerts.raised:
            bus.emit("alert.raised", alert.out())
        for alert in alerts.cleared:
            bus.emit("alert.cleared", alert.out())
        for state in events.changed:
            bus.publish(CHANNEL, "miner.update", self.miner_data(state, summary=True))
        readings = events.readings_event(self.sweeps, polled_at, self.interval_s)
        bus.publish(READINGS_CHANNEL, READINGS, readings)
        bus.publish(CHANNEL, self.sweep_event, summary)
        if self.mailer is not None:
            self.mailer.notify(alerts.raised, alerts.cleared)

    def rollup_rows_on_stop(self) -> list[dict[str, Any]]:
        """Partial buckets, written at stop so a restart loses no history."""
        return rollups_on_stop(self.states.values())

    # ------------------------------------------------------------------ views

    def miner_data(self, state: MinerState, *, summary: bool = False) -> dict[str, Any]:
        """The API's miner object (cached until the next poll of this miner)."""
        data = state.data
        if data is None:
            data = state.data = self._build(state)
        if summary:
            return {k: v for k, v in data.items() if k not in SUMMARY_OMITS}
        return data

    def _build(self, state: MinerState) -> dict[str, Any]:
        spec, snap = state.spec, state.snap
        if snap is None:
            snap = MinerSnapshot.offline("waiting for the first poll")
        revenue, cost, profit = state.money
        return {
            "id": spec.id,
            "host": spec.host,
            "port": spec.port,
            **_labels(spec),
            "status": snap.status,
            "model": snap.model,
            "firmware": snap.firmware,
            "hashrate_ths": snap.hashrate_ths,
            "hashrate_avg_ths": snap.hashrate_avg_ths,
            "hashrate_expected_ths": snap.hashrate_expected_ths,
            "power_w": snap.power_w,
            "efficiency_jth": snap.efficiency_jth,
            "temp_inlet_c": snap.temp_inlet_c,
            "temp_outlet_c": snap.temp_outlet_c,
            "temp_board_max_c": snap.temp_board_max_c,
            "temp_chip_max_c": snap.temp_chip_max_c,
            "fans_rpm": list(snap.fans_rpm),
            "boards": [
                {
                    "index": b.index,
                    "chips_expected": b.chips_expected,
                    "chips_ok": b.chips_ok,
                    "chips_failed": b.chips_failed,
                    "hashrate_ths": b.hashrate_ths,
                    "temp_board_c": b.temp_board_c,
                    "temp_chip_c": b.temp_chip_c,
                }
                for b in snap.boards
            ],
            "pools": [
                {
                    "url": p.url,
                    "user": p.user,
                    "status": p.status,
                    "active": p.active,
                    "priority": p.priority,
                    "accepted": p.accepted,
                    "rejected": p.rejected,
                    "stale": p.stale,
                }
                for p in snap.pools
            ],
            "accepted": snap.accepted,
            "rejected": snap.rejected,
            "hardware_errors": snap.hardware_errors,
            "uptime_s": snap.uptime_s,
            "error": snap.error,
            "last_seen": state.last_seen,
            "polled_at": state.polled_at if state.polled_at is not None else state.first_seen,
            "revenue_usd_day": revenue,
            "cost_usd_day": cost,
            "profit_usd_day": profit,
            "open_alerts": self.book.open_count(spec.id),
        }

    def summary(self) -> dict[str, Any]:
        if self._summary is not None:
            self._summary["open_alerts"] = self.book.total_open()
            return self._summary
        summary = {
            **fleet_totals(
                (self._figures(state) for state in self.states.values()),
                self.settings.fleet_power_price_usd_kwh,
            ),
            "open_alerts": self.book.total_open(),
            "sweep": dict(self.last_sweep),
            **self.hashprice.fields(),
            "power_price_usd_kwh": self.settings.fleet_power_price_usd_kwh,
        }
        self._summary = summary
        return summary

    @staticmethod
    def _figures(state: MinerState) -> MinerFigures:
        data = state.data
        revenue, cost, _profit = state.money
        if data is not None and state.snap is None:  # restored, not yet polled
            status = data["status"]
            rate, exp = data["hashrate_ths"], data["hashrate_expected_ths"]
            model = data.get("model")
            return MinerFigures(status, state.spec.site, rate, exp, None, revenue, cost, model)
        snap = state.snap
        if snap is None:
            return MinerFigures(state.status, state.spec.site, None, None, None, revenue, cost)
        watts = snap.power_w if state.status == "online" else None
        return MinerFigures(
            state.status,
            state.spec.site,
            snap.hashrate_ths,
            snap.hashrate_expected_ths,
            watts,
            revenue,
            cost,
            snap.model,
        )


# ---------------------------------------------------------------------- helpers


def _labels(spec: MinerSpec) -> dict[str, Any]:
    return {"site": spec.site, "rack": spec.rack, "position": spec.position}


# CPython's first collection threshold is 700 container allocations. A sweep of 10,000 miners
# allocates about a million short-lived containers (decoded replies) and replaces ~150,000
# long-lived ones (snapshots, readings, rows): at 700 that meant ~160 young collections and one
# or two full collections of the whole heap per sweep (0.4-0.6 CPU-s of 3.5-4.5). At 10,000 they
# were ~12 a sweep costing 0.19-0.24 CPU-s in all: each found the sweep's new snapshots alive
# and moved them on. At 100,000 a warm sweep of 10,000 miners makes one collection (64-71 ms):
# most containers die before any collection sees them (the count is allocations minus frees,
# and a sweep frees the snapshots it replaces).
GC_YOUNG_THRESHOLD = 100_000


def tune_gc() -> tuple[int, int, int]:
    """Raise the first GC threshold to ``GC_YOUNG_THRESHOLD`` (never lower one already higher);
    for a process that sweeps. Returns the thresholds now in force."""
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:  # 0: collection disabled on purpose, leave it
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    return gc.get_threshold()


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit towards ``needed``; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft, soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0]
