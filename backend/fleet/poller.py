"""The fleet poller: sweeps every miner on a schedule, never two sweeps at once.

One sweep = poll the due miners through a bounded pool of workers (no task per miner), then
in one synchronous pass: economics, alert rules, change detection, telemetry rows; then ONE
database transaction; then events (``miner.update`` for changed miners only, one
``fleet.readings``, one ``fleet.sweep``).

``miner.update`` is deadbanded (a reading must move a full step) so partners' streams stay
quiet; ``fleet.readings`` is the truth of the sweep for consoles: every polled miner's
changing readings as one compact row each (field names once, values in order), so a screen
holds every row as of the last sweep without a request per miner and without a WebSocket
message per miner. The next sweep is armed after this one ends, so a slow sweep delays the
next instead of piling up. Unreachable miners back off exponentially (up to
``fleet_backoff_max_s``) so dead addresses do not eat the sweep's time budget.

Each miner keeps one ``CgminerClient`` (it remembers which command joins the firmware
refuses) and, once its firmware family is known, is asked for exactly the commands that
family needs in one joined request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.core.lease import Lease
from backend.core.settings import Settings
from backend.fleet.alert_email import AlertMailer
from backend.fleet.alerts import CHANNEL as ALERTS_CHANNEL
from backend.fleet.alerts import AlertBook, Condition, RuleSet, SweepAlerts
from backend.fleet.client import POLL_COMMANDS, CgminerClient, snapshot_for_error
from backend.fleet.codec import CgminerError
from backend.fleet.economics import miner_money, read_hashprice
from backend.fleet.inventory import MinerSpec
from backend.fleet.normalize import (
    FAMILY_ANTMINER,
    FAMILY_BRAIINS,
    FAMILY_CGMINER,
    FAMILY_EXTRA_COMMANDS,
    FAMILY_UNKNOWN,
    FAMILY_WHATSMINER,
    MinerSnapshot,
    Replies,
    detect_family,
    normalize,
)
from backend.fleet.plausible import is_suspect
from backend.fleet.store import FleetStore, SweepWrite, snapshot_json
from backend.fleet.totals import MinerFigures, fleet_totals

log = logging.getLogger("hashinsight.fleet")

CHANNEL = "miners"
# Its own channel: 10,000 miners make ~1.5 MB a sweep, which a partner following `miners` (the
# deadbanded updates) should not receive unless it asks for it.
READINGS_CHANNEL = "readings"
# A whole-fleet summary after each sweep. A collector of one shard publishes its partial summary
# as SHARD_SWEEP instead: API instances add the shards up and publish FLEET_SWEEP themselves.
FLEET_SWEEP = "fleet.sweep"
SHARD_SWEEP = "fleet.shard_sweep"
ROLLUP_S = 300
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
READINGS = "fleet.readings"
# A `fleet.readings` row: the id, then these values. What a sweep can change; labels, model and
# firmware change rarely and come with `miner.update`. `pools_alive`/`pools_total` let a screen
# show a miner whose every pool is dead as a problem without the pool list.
READING_FIELDS = (
    "status",
    "hashrate_ths",
    "hashrate_avg_ths",
    "hashrate_expected_ths",
    "power_w",
    "efficiency_jth",
    "temp_inlet_c",
    "temp_outlet_c",
    "temp_board_max_c",
    "temp_chip_max_c",
    "fans_rpm",
    "accepted",
    "rejected",
    "hardware_errors",
    "uptime_s",
    "error",
    "last_seen",
    "revenue_usd_day",
    "cost_usd_day",
    "profit_usd_day",
    "open_alerts",
    "pools_alive",
    "pools_total",
)
_UNRECORDED = MinerSnapshot.failed("suspect data")  # what history keeps of a suspect poll


class MinerState:
    """Everything the poller keeps about one miner between sweeps (slots: 10,000 of them)."""

    __slots__ = (
        "acc",
        "client",
        "data",
        "failures",
        "family",
        "fingerprint",
        "first_seen",
        "last_seen",
        "money",
        "next_due",
        "polled_at",
        "prev_hw",
        "reading",
        "snap",
        "spec",
    )

    def __init__(self, spec: MinerSpec, client: CgminerClient, now: float) -> None:
        self.spec = spec
        self.client = client
        self.family: str | None = None
        self.snap: MinerSnapshot | None = None
        # This sweep's answer until the sweep is digested: readers (the API) never see a new
        # reading labelled with the previous sweep's time.
        self.reading: MinerSnapshot | None = None
        self.last_seen: float | None = None
        self.polled_at: float | None = None
        self.first_seen = now
        self.failures = 0
        self.next_due = 0.0
        self.fingerprint: Fingerprint | None = None  # as last published
        self.data: dict[str, Any] | None = None
        self.money: tuple[float | None, float | None, float | None] = (None, None, None)
        self.prev_hw: tuple[float, int | None] | None = None
        self.acc: list[Any] | None = None  # rollup accumulator, see _accumulate

    @property
    def status(self) -> str:
        return self.snap.status if self.snap is not None else "offline"


@dataclass(slots=True)
class RebootWindow:
    until: float  # wall time: dark after this is an outage again
    why: str  # "a restart by <actor>"
    sent_at: float
    dark: bool = False  # seen dark (or half up) since: answering again ends the window


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
        self.interval_s = settings.fleet_poll_interval_s
        self.concurrency = settings.fleet_concurrency
        self.states: dict[str, MinerState] = {}
        self.hashprice: float | None = None
        self.last_sweep: dict[str, Any] = {
            "started_at": None,
            "duration_s": None,
            "miners": 0,
            "errors": 0,
            "interval_s": self.interval_s,
        }
        self.sweeps = 0
        # restarts we sent, by miner id: while one lasts, the miner being dark is expected
        self.rebooting: dict[str, RebootWindow] = {}
        self._summary: dict[str, Any] | None = None
        self._lock = asyncio.Lock()  # one sweep at a time, even when asked from outside
        # The leases a sweep's writes are fenced with (a sharded collector sets this); taken
        # when the sweep starts, so a shard lost meanwhile still fences, and refuses, the write.
        self.fences: Callable[[], Sequence[Lease]] = tuple
        self.sweep_event = FLEET_SWEEP

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

    def expect_reboot(self, miner_id: str, why: str) -> None:
        """A restart was sent: while ``fleet_reboot_grace_s`` lasts, the miner going dark is
        shown as rebooting and raises no offline alert; answering again ends the window."""
        grace = self.settings.fleet_reboot_grace_s
        if grace > 0 and miner_id in self.states:
            now = self.clock.time()
            self.rebooting[miner_id] = RebootWindow(now + grace, why, now)
        self.request_poll(miner_id)

    def request_poll(self, miner_id: str) -> None:
        """Poll this miner at the next sweep even if it is backing off (after a command)."""
        state = self.states.get(miner_id)
        if state is not None:
            state.next_due = 0.0
            state.failures = 0

    # ------------------------------------------------------------------ one sweep

    async def sweep(self) -> dict[str, Any]:
        async with self._lock:
            return await self._sweep()

    async def _sweep(self) -> dict[str, Any]:
        started_wall = self.clock.time()
        started = self.clock.monotonic()
        fences = tuple(self.fences())
        due = [s for s in self.states.values() if s.next_due <= started]
        await self._poll_all(due)
        polled_at = self.clock.time()
        self.hashprice = read_hashprice(self._services())
        batch, changed, alerts, readings = self._digest(due, started, polled_at)
        if alerts.raised or alerts.cleared:
            self._queue_alert_rows(batch, alerts)
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
        for alert in alerts.raised:
            self.bus.publish(ALERTS_CHANNEL, "alert.raised", alert.to_dict())
        for alert in alerts.cleared:
            self.bus.publish(ALERTS_CHANNEL, "alert.cleared", alert.to_dict())
        for state in changed:
            self.bus.publish(CHANNEL, "miner.update", self.miner_data(state, summary=True))
        self.bus.publish(
            READINGS_CHANNEL,
            READINGS,
            {
                "sweep": self.sweeps,
                "polled_at": polled_at,
                "interval_s": self.interval_s,
                "fields": READING_FIELDS,
                "rows": readings,
            },
        )
        self.bus.publish(CHANNEL, self.sweep_event, summary)
        if self.mailer is not None:
            self.mailer.notify(alerts.raised, alerts.cleared)
        return summary

    async def _poll_all(self, due: list[MinerState]) -> None:
        queue = iter(due)

        async def worker() -> None:
            for state in queue:
                state.reading = await self._poll(state)

        workers = max(1, min(self.concurrency, len(due)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _poll(self, state: MinerState) -> MinerSnapshot:
        """One miner, one (usually joined) request; never raises for miner trouble."""
        client = state.client
        try:
            plan = PLANS.get(state.family or "")
            if plan is not None:
                return normalize(await client.multi(plan))
            replies = await client.multi(POLL_COMMANDS)
            family = detect_family(Replies(replies))
            extra = FAMILY_EXTRA_COMMANDS.get(family, ())
            if extra:
                with suppress(CgminerError):
                    replies.update(await _extras(client, extra))
            snap = normalize(replies)
            answered = snap.status != "error" or is_suspect(snap.error)
            if answered and family != FAMILY_UNKNOWN:
                state.family = family
            return snap
        except CgminerError as exc:
            return snapshot_for_error(exc)
        except Exception as exc:  # a parser bug on one miner must not stop the sweep
            log.exception("unexpected error polling %s", state.spec.id)
            return MinerSnapshot.failed(f"internal error: {type(exc).__name__}")

    # ------------------------------------------------------------------ after polling

    def _rebooting(
        self,
        state: MinerState,
        snap: MinerSnapshot,
        now: float,
        found: dict[str, Condition],
        judged: frozenset[str],
    ) -> tuple[dict[str, Condition], frozenset[str]]:
        """Inside a reboot we asked for, dark is expected: say so and judge no offline rule."""
        window = self.rebooting[state.spec.id]
        if now >= window.until:
            del self.rebooting[state.spec.id]  # the window is over: judge it as any other
            return found, judged
        if snap.status in ("online", "sleeping"):
            uptime = snap.uptime_s
            booted = uptime is not None and uptime <= now - window.sent_at + self.interval_s
            if window.dark or booted:
                del self.rebooting[state.spec.id]  # back from the reboot
            return found, judged  # (or not gone down yet: some firmwares wait a few seconds)
        # dark, or half up (RPC answering before the hashboards): both are the reboot
        window.dark = True
        left = max(1, round(window.until - now))
        snap.error = f"rebooting after {window.why}; offline alert held for {left}s more"
        state.next_due = 0.0  # keep polling every sweep to see it come back
        state.failures = 0
        return {}, frozenset()

    def _digest(
        self, due: list[MinerState], started: float, now: float
    ) -> tuple[SweepWrite, list[MinerState], SweepAlerts, list[list[Any]]]:
        """Everything CPU-bound after the polls, in one pass over the polled miners."""
        batch = SweepWrite()
        changed: list[MinerState] = []
        readings: list[list[Any]] = []
        alerts = SweepAlerts()
        now_dt = datetime.fromtimestamp(now, UTC)
        bucket = int(now // ROLLUP_S) * ROLLUP_S
        settings = self.settings
        price = settings.fleet_power_price_usd_kwh
        for state in due:
            snap = state.reading
            assert snap is not None
            known = state.snap
            if snap.model is None and known is not None and snap.status in ("offline", "error"):
                # a miner that does not answer is still the model it was: identity, not a reading
                snap.model, snap.firmware = known.model, snap.firmware or known.firmware
            state.snap, state.reading = snap, None
            status = snap.status
            state.polled_at = now
            suspect = is_suspect(snap.error)
            if status in ("online", "sleeping") or suspect:  # suspect: it answered, promptly
                state.last_seen = now
                state.failures = 0
                state.next_due = 0.0
            else:
                state.failures += 1
                delay = min(
                    settings.fleet_backoff_max_s, self.interval_s * 2 ** (state.failures - 1)
                )
                state.next_due = started + delay - self.interval_s / 2
            found, judged = self.rules.evaluate(snap, state.prev_hw, now)
            if self.rebooting and state.spec.id in self.rebooting:
                found, judged = self._rebooting(state, snap, now, found, judged)
            if status == "online":
                state.prev_hw = (now, snap.hardware_errors)
            self.book.observe(state.spec.id, found, judged, now_dt, alerts)
            state.money = miner_money(
                status,
                snap.hashrate_ths,
                snap.hashrate_avg_ths,
                snap.power_w,
                self.hashprice,
                price,
            )
            # a suspect poll's other readings are shown, never kept in history or reports
            kept = _UNRECORDED if suspect else snap
            batch.samples.append(
                {
                    "miner_id": state.spec.id,
                    "ts": now_dt,
                    "status": status,
                    "hashrate_ths": kept.hashrate_ths,
                    "power_w": kept.power_w,
                    "temp_board_max_c": kept.temp_board_max_c,
                    "temp_chip_max_c": kept.temp_chip_max_c,
                }
            )
            row = _accumulate(state, bucket, kept)
            if row is not None:
                batch.rollups.append(row)
            state.data = None
            open_alerts = self.book.open_count(state.spec.id)
            readings.append(_reading(state, snap, open_alerts))
            fingerprint = _fingerprint(snap, open_alerts, state.money)
            if _changed(state.fingerprint, fingerprint):
                state.fingerprint = fingerprint
                changed.append(state)
                data = self.miner_data(state)
                batch.states.append(
                    {
                        "b_id": state.spec.id,
                        "b_status": status,
                        "b_snapshot": snapshot_json(data),
                        "b_last_seen": _dt(state.last_seen),
                        "b_polled_at": now_dt,
                    }
                )
        return batch, changed, alerts, readings

    def _queue_alert_rows(self, batch: SweepWrite, alerts: SweepAlerts) -> None:
        for alert in alerts.raised:
            batch.new_alerts.append(
                {
                    "miner_id": alert.miner_id,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "state": alert.state,
                    "message": alert.message,
                    "value": alert.value,
                    "threshold": alert.threshold,
                    "raised_at": alert.raised_at,
                }
            )
        for alert in alerts.cleared:
            if alert.id:
                batch.alert_updates.append(
                    {"b_id": alert.id, "b_state": "cleared", "b_cleared_at": alert.cleared_at}
                )

    def rollup_rows_on_stop(self) -> list[dict[str, Any]]:
        """Partial buckets, written at stop so a restart loses no history."""
        rows = []
        for state in self.states.values():
            if state.acc is not None and state.acc[1]:
                rows.append(_rollup_row(state.spec.id, state.acc))
                state.acc = None
        return rows

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
            "hashprice_usd_per_th_day": self.hashprice,
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


async def _extras(client: CgminerClient, commands: Sequence[str]) -> dict[str, Any]:
    """A family's extra commands in as few requests as it accepts: Whatsminer refuses to join
    ``get_*``/``status`` with anything (code 14), so those go alone without a refused join
    first (a connection per Whatsminer saved in the first sweep). Same replies, same order."""
    alone = [c for c in commands if c.startswith("get_") or c == "status"]
    joined = [c for c in commands if c not in alone]
    got: dict[str, Any] = await client.multi(joined) if joined else {}
    for command in alone:
        got.update(await client.multi((command,)))
    return {c: got[c] for c in commands}


def _labels(spec: MinerSpec) -> dict[str, Any]:
    return {"site": spec.site, "rack": spec.rack, "position": spec.position}


def _dt(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _reading(state: MinerState, snap: MinerSnapshot, open_alerts: int) -> list[Any]:
    """One `fleet.readings` row (READING_FIELDS after the id), rounded to what is shown."""
    revenue, cost, profit = state.money
    pools = snap.pools
    return [
        state.spec.id,
        snap.status,
        _round(snap.hashrate_ths, 3),
        _round(snap.hashrate_avg_ths, 3),
        snap.hashrate_expected_ths,
        _round(snap.power_w, 1),
        _round(snap.efficiency_jth, 2),
        _round(snap.temp_inlet_c, 1),
        _round(snap.temp_outlet_c, 1),
        _round(snap.temp_board_max_c, 1),
        _round(snap.temp_chip_max_c, 1),
        list(snap.fans_rpm),
        snap.accepted,
        snap.rejected,
        snap.hardware_errors,
        snap.uptime_s,
        snap.error,
        state.last_seen,
        revenue,
        cost,
        profit,
        open_alerts,
        sum(1 for p in pools if p.status == "alive"),
        len(pools),
    ]


Fingerprint = tuple[tuple[Any, ...], tuple[float | None, ...], tuple[float, ...]]


def _fingerprint(
    snap: MinerSnapshot, open_alerts: int, money: tuple[float | None, ...]
) -> Fingerprint:
    """What an operator would call a change: (what must match exactly, readings, how far
    each reading may move before it counts). Readings move with noise: 2%/5% of expected
    hashrate (average/5 s), 5% power, 3 °C; see ``_changed``."""
    base = snap.hashrate_expected_ths or snap.hashrate_avg_ths or snap.hashrate_ths or 1.0
    exact = (
        snap.status,
        snap.error,
        snap.model,
        snap.firmware,
        tuple((b.chips_ok, b.chips_failed) for b in snap.boards),
        tuple(rpm < 1000 for rpm in snap.fans_rpm),
        tuple((p.url, p.user, p.status, p.active) for p in snap.pools),
        open_alerts,
        money[2] is not None and money[2] < 0,
    )
    readings = (
        snap.hashrate_avg_ths,
        snap.hashrate_ths,
        snap.power_w,
        snap.temp_chip_max_c,
        snap.temp_board_max_c,
        snap.temp_inlet_c,
    )
    steps = (base * 0.02, base * 0.05, max((snap.power_w or 0) * 0.05, 25.0), 3.0, 3.0, 3.0)
    return exact, readings, steps


def _changed(published: Fingerprint | None, now: Fingerprint) -> bool:
    """Against the last *published* fingerprint, not the last poll's: jitter around a value
    never publishes (a fixed grid would flap at its lines: 3 in 4 miners a sweep), while a
    slow drift publishes once it has moved a full step."""
    if published is None or published[0] != now[0]:
        return True
    for before, after, step in zip(published[1], now[1], now[2], strict=True):
        if before is None or after is None:
            if before is not after:
                return True
        elif abs(after - before) >= step:
            return True
    return False


def _accumulate(state: MinerState, bucket: int, snap: MinerSnapshot) -> dict[str, Any] | None:
    """Add one poll to the miner's 5-minute bucket; return the previous bucket's row if the
    bucket just rolled over. acc = [bucket, n, online, rate_sum, rate_n, power_sum, power_n,
    board_max, chip_max, last_status]."""
    acc = state.acc
    row = None
    if acc is not None and acc[0] != bucket:
        row = _rollup_row(state.spec.id, acc) if acc[1] else None
        acc = None
    if acc is None:
        acc = state.acc = [bucket, 0, 0, 0.0, 0, 0.0, 0, None, None, snap.status]
    acc[1] += 1
    if snap.status == "online":
        acc[2] += 1
    if snap.hashrate_ths is not None:
        acc[3] += snap.hashrate_ths
        acc[4] += 1
    if snap.power_w is not None:
        acc[5] += snap.power_w
        acc[6] += 1
    for index, value in ((7, snap.temp_board_max_c), (8, snap.temp_chip_max_c)):
        if value is not None and (acc[index] is None or value > acc[index]):
            acc[index] = value
    acc[9] = snap.status
    return row


def _rollup_row(miner_id: str, acc: list[Any]) -> dict[str, Any]:
    return {
        "miner_id": miner_id,
        "ts": datetime.fromtimestamp(acc[0], UTC),
        "samples": acc[1],
        "online": acc[2],
        "status": acc[9],
        "hashrate_ths": round(acc[3] / acc[4], 6) if acc[4] else None,
        "power_w": round(acc[5] / acc[6], 1) if acc[6] else None,
        "temp_board_max_c": acc[7],
        "temp_chip_max_c": acc[8],
    }


# CPython's first collection threshold is 700 container allocations. A sweep of 10,000 miners
# allocates about a million short-lived containers (decoded replies) and replaces ~150,000
# long-lived ones (snapshots, readings, rows): at 700 that meant ~160 young collections and one
# or two full collections of the whole heap per sweep (0.4-0.6 CPU-s of 3.5-4.5). At 10,000 the
# young collections are ~11 a sweep and a full one comes about every ten sweeps.
GC_YOUNG_THRESHOLD = 10_000


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
