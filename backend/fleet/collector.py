"""A shard's collector: holds the shard's lease, polls only its miners, writes a heartbeat.

Each round: make sure the home shard's lease is held (else ask its adopter for it back), with
`adopt` take over shards whose heartbeat is older than `adopt_after_s` (through their lease, so
two live collectors never adopt the same shard), hand the poller exactly the miners of the held
shards, sweep once, and write one heartbeat row per held shard. Leases are renewed by their own
task every TTL/3, so a long sweep never lets one expire. A shard whose lease is lost is dropped
before the next sweep; a sweep already running when it is lost writes nothing: its transaction
is fenced with the leases held when it started (`FleetStore.write_sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.lease import Lease, LeaseLost, make_holder
from backend.fleet.inventory import MinerSpec
from backend.fleet.poller import SHARD_SWEEP, Poller
from backend.fleet.shard import ALL, HeartbeatStore, ShardSpec, parse_shard

log = logging.getLogger("hashinsight.fleet.collector")


class ShardCollector:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        poller: Poller,
        home: ShardSpec,
        *,
        lease_ttl_s: float,
        adopt: bool = False,
        adopt_after_s: float = 60.0,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.poller = poller
        self.home = home
        self.adopt = adopt
        self.adopt_after_s = adopt_after_s
        self.lease_ttl_s = lease_ttl_s
        self.holder = holder or make_holder()
        self.heartbeats = HeartbeatStore(db)
        self.held: dict[str, tuple[ShardSpec, Lease]] = {}
        self.sweeps: dict[str, int] = {}
        self.started_at = clock.now()
        self._specs: list[MinerSpec] = []
        self._home_lease = self._lease(home)
        poller.fences = self._fences
        if home.key != ALL:  # its summaries cover part of the fleet only
            poller.sweep_event = SHARD_SWEEP

    def _lease(self, shard: ShardSpec) -> Lease:
        return Lease(
            self.db, self.clock, self.lease_ttl_s, name=shard.lease_name, holder=self.holder
        )

    # ------------------------------------------------------------------ inventory

    def set_inventory(self, specs: Sequence[MinerSpec]) -> None:
        """The whole fleet; the poller gets only the miners of the shards held."""
        self._specs = list(specs)
        self._apply(force=True)

    def _apply(self, *, force: bool = False) -> None:
        shards = [shard for shard, _lease in self.held.values()]
        mine = [spec for spec in self._specs if any(s.covers(spec) for s in shards)]
        if force or [s.id for s in mine] != list(self.poller.states):
            self.poller.set_inventory(mine)

    # ------------------------------------------------------------------ life

    async def run(self) -> None:
        renew = asyncio.create_task(self._renew_loop(), name="fleet-shard-leases")
        try:
            while True:
                started = self.clock.monotonic()
                try:
                    await self._round()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database may be away for a moment: try next round
                    log.exception("fleet collector round failed")
                elapsed = self.clock.monotonic() - started
                await asyncio.sleep(max(0.05, self.poller.interval_s - elapsed))
        finally:
            renew.cancel()
            with contextlib.suppress(BaseException):
                await renew

    async def stop(self) -> None:
        """Let go of every shard at once, so a restart or an adopter need not wait a TTL."""
        for _shard, lease in list(self.held.values()):
            with contextlib.suppress(Exception):
                await lease.release()
        self.held.clear()

    async def _round(self) -> None:
        await self._arrange()
        self._apply()
        if not self.held:
            return
        sweep_started = self.clock.time()
        try:
            await self.poller.sweep()
        except LeaseLost:
            self._drop_lost()
            return
        await self._beat(sweep_started)

    def _fences(self) -> list[Lease]:
        return [lease for _shard, lease in self.held.values()]

    def _drop_lost(self) -> None:
        """The sweep's write was refused by a fence: let go of the shards it found lost."""
        for key, (_shard, lease) in list(self.held.items()):
            if lease.token is None:
                self.held.pop(key, None)
                log.warning("fleet shard %s: lease lost during a sweep; not written", key)
        self._apply()

    async def _arrange(self) -> None:
        """Hold the home shard (or claim it back), give back claimed adoptions, adopt more."""
        home_key = self.home.key
        for key, (_shard, lease) in list(self.held.items()):
            if not lease.held and not await lease.renew():  # stalled past the TTL: taken?
                self.held.pop(key, None)
                log.warning("fleet shard %s: lease lost to another collector", key)
        if home_key not in self.held:
            if await self._home_lease.acquire():
                self.held[home_key] = (self.home, self._home_lease)
                self.sweeps[home_key] = 0
                log.info("fleet collector: shard %s acquired", home_key)
            else:
                await self.heartbeats.claim(home_key, self.holder)
        if not self.adopt and len(self.held) <= 1:
            return
        rows = {row["shard"]: row for row in await self.heartbeats.all()}
        for key, (_shard, lease) in list(self.held.items()):
            claimed = rows.get(key, {}).get("claimed_by")
            if key != home_key and claimed and claimed != self.holder:
                await lease.release()
                self.held.pop(key, None)
                log.info("fleet collector: shard %s handed back to its collector", key)
        if self.adopt:
            await self._adopt(rows)

    async def _adopt(self, rows: dict[str, dict[str, Any]]) -> None:
        now = self.clock.now()
        for key, row in rows.items():
            if key in self.held:
                continue
            last = row.get("last_sweep_at") or row.get("started_at")
            if last is not None and now - last < timedelta(seconds=self.adopt_after_s):
                continue
            try:
                shard = parse_shard(key)
            except ValueError:
                continue
            if not self._same_scheme(shard):
                continue  # a shard of an older split would overlap the current ones
            lease = self._lease(shard)
            if await lease.acquire():
                self.held[key] = (shard, lease)
                self.sweeps[key] = 0
                log.warning("fleet collector: adopted stale shard %s from %s", key, row["holder"])

    def _same_scheme(self, shard: ShardSpec) -> bool:
        if self.home.site is not None:
            return shard.site is not None
        return shard.site is None and shard.count == self.home.count

    async def _renew_loop(self) -> None:
        interval = max(0.2, self.lease_ttl_s / 3)
        while True:
            await asyncio.sleep(interval)
            for key, (_shard, lease) in list(self.held.items()):
                try:
                    kept = await lease.renew()
                except Exception as exc:  # a database blip: the next renewal may work
                    log.warning("fleet shard %s: lease renewal failed: %s", key, type(exc).__name__)
                    continue
                if not kept:
                    self.held.pop(key, None)
                    log.warning("fleet shard %s: lease lost to another collector", key)

    async def _beat(self, sweep_started: float) -> None:
        now = self.clock.now()
        states = self.poller.states
        duration = self.poller.last_sweep.get("duration_s")
        for key, (shard, _lease) in list(self.held.items()):
            members = [s for s in states.values() if shard.covers(s.spec)]
            polled = [s for s in members if (s.polled_at or 0.0) >= sweep_started]
            self.sweeps[key] = self.sweeps.get(key, 0) + 1
            await self.heartbeats.beat(
                key,
                {
                    "holder": self.holder,
                    "miners": len(members),
                    "polled": len(polled),
                    "errors": sum(1 for s in polled if s.status in ("offline", "error")),
                    "sweeps": self.sweeps[key],
                    "interval_s": self.poller.interval_s,
                    "duration_s": duration,
                    "started_at": self.started_at,
                    "last_sweep_at": now,
                },
                home=key == self.home.key,
            )

    def describe(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "home": self.home.key,
            "held": sorted(self.held),
            "adopt": self.adopt,
            "miners": len(self.poller.states),
        }
