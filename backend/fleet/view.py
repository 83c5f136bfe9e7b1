"""The whole fleet as an API instance that polls nothing sees it (`serve --no-collect`).

It starts from the database (each miner's last stored state, written by whichever collector
polls it), follows the `miner.update` events every collector publishes (they reach this process
through the Redis bridge), and re-reads the database on a timer: often without Redis, rarely with
it (only to heal missed events). The collectors' heartbeats say which shards are alive; the
miners of a shard whose collector stopped are flagged `stale`.

Without Redis the collectors' `fleet.readings` do not reach this process, and stored states are
written only when a reading moved a full step; so on each re-read it also takes the polls stored
since the last one (`fleet_samples`: status, hashrate, power, temperatures) and publishes them
as `fleet.readings`, one event per collector sweep, for its consoles to stay as of the last sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from backend.core.bus import Event, EventBus, SubscriptionClosed
from backend.core.clock import Clock
from backend.fleet.economics import read_hashprice
from backend.fleet.inventory import MinerSpec
from backend.fleet.listing import summary_of
from backend.fleet.poller import (
    CHANNEL,
    FLEET_SWEEP,
    READINGS,
    READINGS_CHANNEL,
    SHARD_SWEEP,
)
from backend.fleet.shard import HeartbeatStore, stale_miner_ids
from backend.fleet.store import FleetStore
from backend.fleet.totals import MinerFigures, fleet_totals

log = logging.getLogger("hashinsight.fleet.view")

LABEL_KEYS = ("site", "rack", "position")
SAMPLE_FIELDS = ("status", "hashrate_ths", "power_w", "temp_board_max_c", "temp_chip_max_c")
# Not in a stored poll: from the miner's stored state, just re-read, so a console's error and
# alert columns follow each sweep too, not only its full reload.
STATE_FIELDS = ("error", "open_alerts", "last_seen")


class FleetView:
    def __init__(
        self,
        store: FleetStore,
        heartbeats: HeartbeatStore,
        bus: EventBus,
        clock: Clock,
        *,
        interval_s: float,
        stale_after_s: float,
        power_price: float,
        live: bool,
        services: Callable[[], Mapping[str, object]] = dict,
    ) -> None:
        self.store = store
        self.heartbeats = heartbeats
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.power_price = power_price
        self.live = live
        self._services = services
        self.specs: list[MinerSpec] = []
        self.data: dict[str, dict[str, Any]] = {}
        self.stale: set[str] = set()
        self.shards: list[dict[str, Any]] = []
        self._placeholders: set[str] = set()  # never stored: the first stored state wins
        self._tasks: list[asyncio.Task[Any]] = []
        self._samples_after: datetime | None = None  # the newest stored poll taken (no Redis)

    # ------------------------------------------------------------------ inventory and life

    def set_inventory(
        self, specs: Sequence[MinerSpec], placeholder: Callable[[MinerSpec], dict[str, Any]]
    ) -> None:
        """The miners to show; a miner never stored yet shows `placeholder(spec)`."""
        fresh: dict[str, dict[str, Any]] = {}
        for spec in specs:
            data = self.data.get(spec.id)
            if data is None:
                data = dict(placeholder(spec))
                self._placeholders.add(spec.id)
            data.update(_labels(spec))
            data["stale"] = spec.id in self.stale
            fresh[spec.id] = data
        self.specs = list(specs)
        self.data = fresh
        self._placeholders &= set(fresh)

    async def start(self) -> None:
        self._samples_after = self.clock.now()  # follow sweeps from here: history is no reading
        await self.refresh(full=True)
        self._tasks = [asyncio.create_task(self._refresh_loop(), name="fleet-view-refresh")]
        if self.live:
            subscription = self.bus.subscribe({CHANNEL}, maxsize=20_000, name="fleet-view")
            self._tasks.append(asyncio.create_task(self._follow(subscription), name="fleet-view"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()

    # ------------------------------------------------------------------ keeping it current

    async def refresh(self, *, full: bool) -> None:
        """Heartbeats (always) and, when `full`, every miner's stored state."""
        beats = await self.heartbeats.all()
        if full:
            rows = await self.store.load_miners()
            stored = await asyncio.to_thread(_parse_rows, rows)
            for miner_id, data in stored.items():
                current = self.data.get(miner_id)
                if current is None:
                    continue
                if self._newer(miner_id, data, current):
                    current.update(data)
        if full and not self.live and self._samples_after is not None:
            await self._publish_samples()
        self.shards = beats
        spec_by_id = {spec.id: spec for spec in self.specs}
        self.stale = stale_miner_ids(self.specs, beats, self.clock.now(), self.stale_after_s)
        for miner_id, data in self.data.items():
            data.update(_labels(spec_by_id[miner_id]))
            data["stale"] = miner_id in self.stale

    async def _publish_samples(self) -> None:
        """The polls stored since the last re-read, as this process's `fleet.readings`."""
        assert self._samples_after is not None
        rows = await self.store.samples_since(self._samples_after)
        sweeps: dict[datetime, list[list[Any]]] = {}
        for row in rows:
            miner_id = row["miner_id"]
            current = self.data.get(miner_id)
            if current is None:
                continue
            values = [row[name] for name in SAMPLE_FIELDS]
            polled_at = row["ts"].timestamp()
            if polled_at >= (current.get("polled_at") or 0.0):
                current.update(zip(SAMPLE_FIELDS, values, strict=True))
                current["polled_at"] = polled_at
            state = [current.get(name) for name in STATE_FIELDS]
            sweeps.setdefault(row["ts"], []).append([miner_id, *values, *state])
        for ts, readings in sweeps.items():
            data = {
                "sweep": None,
                "polled_at": ts.timestamp(),
                "interval_s": self.interval_s,
                "fields": SAMPLE_FIELDS + STATE_FIELDS,
                "rows": readings,
            }
            self.bus.deliver_local(Event(READINGS_CHANNEL, READINGS, data))
        if rows:
            self._samples_after = max(self._samples_after, rows[-1]["ts"])

    async def _refresh_loop(self) -> None:
        beat_s = max(0.5, min(self.interval_s, 5.0))
        full_s = max(30.0, 6 * self.interval_s) if self.live else self.interval_s
        last_full = self.clock.monotonic()
        while True:
            await asyncio.sleep(beat_s)
            full = self.clock.monotonic() - last_full >= full_s
            try:
                await self.refresh(full=full)
            except Exception as exc:  # the database may be away for a moment
                log.warning("fleet view refresh failed: %s", type(exc).__name__)
                continue
            if full:
                last_full = self.clock.monotonic()

    async def _follow(self, subscription: Any) -> None:
        try:
            while True:
                event = await subscription.get()
                if event.type == "miner.update":
                    self.apply(event.data)
                elif event.type == SHARD_SWEEP:
                    # A shard's summary covers its miners only: this process's clients get the
                    # whole fleet's, here only (every API instance makes its own).
                    self.bus.deliver_local(Event(CHANNEL, FLEET_SWEEP, self.summary()))
        except SubscriptionClosed:
            return
        finally:
            subscription.close()

    def apply(self, update: Mapping[str, Any]) -> None:
        """Merge one `miner.update` (summary form: boards and pools stay from before)."""
        current = self.data.get(str(update.get("id")))
        if current is None:
            return
        if not self._newer(current["id"], update, current):
            return  # older than what the database already gave us
        labels = {key: current.get(key) for key in LABEL_KEYS}
        current.update(update)
        current.update(labels)
        current["stale"] = current["id"] in self.stale

    def _newer(self, miner_id: str, data: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        if miner_id in self._placeholders:
            self._placeholders.discard(miner_id)
            return True
        return (data.get("polled_at") or 0.0) >= (current.get("polled_at") or 0.0)

    # ------------------------------------------------------------------ reads

    def miners(self, *, summary: bool = False) -> list[dict[str, Any]]:
        if not summary:
            return list(self.data.values())
        return [summary_of(data) for data in self.data.values()]  # objects change in place

    def miner(self, miner_id: str) -> dict[str, Any] | None:
        return self.data.get(miner_id)

    def summary(self) -> dict[str, Any]:
        return {
            **fleet_totals((_figures(data) for data in self.data.values()), self.power_price),
            "stale": len(self.stale & set(self.data)),
            "open_alerts": sum(int(data.get("open_alerts") or 0) for data in self.data.values()),
            "sweep": self._sweep(),
            "shards": [_shard_view(beat) for beat in self.shards],
            **read_hashprice(self._services(), self.clock.time()).fields(),
            "power_price_usd_kwh": self.power_price,
        }

    def _sweep(self) -> dict[str, Any]:
        """The collectors' latest sweeps, added up: the shards with a fresh heartbeat or, when
        none is fresh (every collector stopped), the last one that swept, so the age shown
        says how long the fleet has gone unpolled instead of disappearing."""
        now = self.clock.now()
        swept = [beat for beat in self.shards if beat.get("last_sweep_at") is not None]
        fresh = [
            beat
            for beat in swept
            if (now - beat["last_sweep_at"]).total_seconds() <= self.stale_after_s
        ] or sorted(swept, key=lambda beat: beat["last_sweep_at"])[-1:]
        return {
            "started_at": max((b["last_sweep_at"].timestamp() for b in fresh), default=None),
            "duration_s": max((b["duration_s"] or 0.0 for b in fresh), default=None),
            "miners": sum(b["polled"] for b in fresh),
            "errors": sum(b["errors"] for b in fresh),
            "interval_s": self.interval_s,
        }


def _figures(data: Mapping[str, Any]) -> MinerFigures:
    return MinerFigures(
        data.get("status") or "offline",
        data.get("site"),
        data.get("hashrate_ths"),
        data.get("hashrate_expected_ths"),
        data.get("power_w"),
        data.get("revenue_usd_day"),
        data.get("cost_usd_day"),
        data.get("model"),
    )


def _labels(spec: MinerSpec) -> dict[str, Any]:
    return {"site": spec.site, "rack": spec.rack, "position": spec.position}


def _parse_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored snapshots -> miner objects (in a thread: 10,000 JSON documents are real work)."""
    parsed: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row.get("snapshot") or not row.get("enabled", True):
            continue
        try:
            data = json.loads(row["snapshot"])
        except ValueError:
            continue
        if isinstance(data, dict):
            parsed[row["id"]] = data
    return parsed


def _shard_view(beat: Mapping[str, Any]) -> dict[str, Any]:
    last = beat.get("last_sweep_at")
    return {
        "shard": beat["shard"],
        "holder": beat["holder"],
        "miners": beat["miners"],
        "polled": beat["polled"],
        "errors": beat["errors"],
        "sweeps": beat["sweeps"],
        "last_sweep_at": last.timestamp() if last is not None else None,
    }
