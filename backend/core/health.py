"""Honest health of every integration, from real calls: status, latency, last success, last error.

Services report outcomes here; the registry publishes `health.update` on the bus when something
changes, which is how the console's Health screen stays live.

Every item says when it was last checked and how old a check may get (`stale_after_s`, from the
interval its checks arrive at): a status is only as good as its last check, and an integration
nobody checks any more must not keep showing the `ok` of long ago. The fleet's pollers report
each sweep here too (read off the bus), so a poller that stopped sweeping shows as stale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from backend.core.bus import Event, EventBus
from backend.core.clock import SYSTEM_CLOCK, Clock
from hashinsight_contract.common import IntegrationOut

Status = Literal["ok", "degraded", "down", "unknown", "disabled"]

# A check older than this many intervals between checks is stale (with a floor for jitter).
STALE_INTERVALS = 3.0
STALE_FLOOR_S = 30.0
# An integration checked once, whose interval is not known yet, goes stale after this.
STALE_UNKNOWN_INTERVAL_S = 900.0
# Sweep events of the fleet (`backend.fleet.poller`): one health row per polling role.
SWEEP_EVENTS = {"fleet.sweep": "fleet-poller", "fleet.shard_sweep": "fleet-collector"}


@dataclass(slots=True)
class IntegrationHealth:
    name: str
    kind: str
    target: str
    status: Status = "unknown"
    latency_ms: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    checks: int = 0
    failures: int = 0
    detail: str | None = None
    last_check: float | None = None  # a success, a failure, or the component's own word
    interval_s: float | None = None  # between checks: stated, or learnt from their arrival

    @property
    def stale_after_s(self) -> float | None:
        if self.last_check is None or self.status in ("disabled", "unknown"):
            return None
        if self.interval_s is None:
            return STALE_UNKNOWN_INTERVAL_S if self.checks else None
        return max(STALE_INTERVALS * self.interval_s, STALE_FLOOR_S)

    def out(self) -> IntegrationOut:
        """The component's health as the API and its `health.update` events show it."""
        return IntegrationOut(**asdict(self), stale_after_s=self.stale_after_s)

    def checked(self, now: float, *, learn: bool = True) -> None:
        """Note a check at `now` and learn the interval checks arrive at."""
        if learn and self.last_check is not None and now > self.last_check:
            gap = now - self.last_check
            self.interval_s = gap if self.interval_s is None else 0.7 * self.interval_s + 0.3 * gap
        self.last_check = now


class HealthRegistry:
    def __init__(self, bus: EventBus, clock: Clock = SYSTEM_CLOCK) -> None:
        self._bus = bus
        self._clock = clock
        self._items: dict[str, IntegrationHealth] = {}
        self._stated: set[str] = set()  # intervals given by the caller, not learnt
        bus.add_forwarder(self._watch)

    def register(
        self,
        name: str,
        kind: str,
        target: str,
        status: Status = "unknown",
        *,
        interval_s: float | None = None,
    ) -> None:
        if name not in self._items:
            item = IntegrationHealth(name=name, kind=kind, target=target, status=status)
            if status in ("ok", "degraded", "down"):  # the caller's word at this moment
                item.last_check = self._clock.time()
            if interval_s is not None:
                item.interval_s = interval_s
                self._stated.add(name)
            self._items[name] = item
            self._publish(item)

    def success(self, name: str, latency_ms: float, detail: str | None = None) -> None:
        item = self._items[name]
        item.status = "ok"
        item.latency_ms = round(latency_ms, 2)
        item.last_success = self._clock.time()
        item.checked(item.last_success, learn=name not in self._stated)
        item.checks += 1
        item.detail = detail
        self._publish(item)

    def failure(self, name: str, error: str, latency_ms: float | None = None) -> None:
        item = self._items[name]
        item.checks += 1
        item.failures += 1
        item.last_error = error[:300]
        item.last_error_at = self._clock.time()
        item.checked(item.last_error_at, learn=name not in self._stated)
        if latency_ms is not None:
            item.latency_ms = round(latency_ms, 2)
        item.status = "degraded" if item.status == "ok" else "down"
        self._publish(item)

    def set_status(self, name: str, status: Status, detail: str | None = None) -> None:
        item = self._items[name]
        item.status = status
        item.detail = detail
        if status in ("ok", "degraded", "down"):
            item.last_check = self._clock.time()
        self._publish(item)

    def get(self, name: str) -> IntegrationHealth | None:
        return self._items.get(name)

    def snapshot(self) -> list[IntegrationOut]:
        return [item.out() for item in sorted(self._items.values(), key=lambda i: i.name)]

    def overall(self) -> Status:
        statuses = {item.status for item in self._items.values() if item.status != "disabled"}
        if not statuses or statuses == {"ok"}:
            return "ok"
        if "down" in statuses:
            return "down" if statuses == {"down"} else "degraded"
        return "degraded" if statuses - {"ok", "unknown"} else "ok"

    def _watch(self, event: Event) -> None:
        """A fleet sweep published in this process: its poller's row (called inside publish)."""
        name = SWEEP_EVENTS.get(event.type) if event.channel == "miners" else None
        if name is None:
            return
        sweep = event.data.get("sweep")
        if not isinstance(sweep, dict):
            return
        try:
            # The whole fleet (or shard), not only the miners due this sweep: a miner backing
            # off after going dark is not polled every sweep, yet it is not answering.
            total = int(event.data.get("total") or sweep.get("miners") or 0)
            dark = int(event.data.get("offline") or 0) + int(event.data.get("error") or 0)
            if "total" not in event.data:  # a summary without the fleet's counts
                dark = int(sweep.get("errors") or 0)
            duration_s = float(sweep.get("duration_s") or 0.0)
            interval = sweep.get("interval_s")
        except (TypeError, ValueError):
            return
        what = "shard of the fleet" if name == "fleet-collector" else "configured miners"
        every = f"every {float(interval):g}s" if isinstance(interval, int | float) else "sweeps"
        self.register(
            name,
            "poller",
            f"{what}, {every}",
            interval_s=float(interval) if isinstance(interval, int | float) else None,
        )
        item = self._items[name]
        item.detail = (
            f"{total - dark}/{total} miners answering · {dark} offline or in error · "
            f"last sweep took {duration_s:.1f}s"
        )
        if total and dark == total:
            # The poller runs but nothing answers: its network, not each miner, is in doubt.
            self.failure(name, f"no miner answering ({dark} of {total} dark)", duration_s * 1000)
            item.detail = f"0/{total} miners answering · last sweep took {duration_s:.1f}s"
            self._publish(item)
            return
        self.success(name, duration_s * 1000, item.detail)

    def _publish(self, item: IntegrationHealth) -> None:
        self._bus.emit("health.update", item.out())
