"""Honest health of every integration, from real calls: status, latency, last success, last error.

Services report outcomes here; the registry publishes `health.update` on the bus when something
changes, which is how the console's Health screen stays live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from backend.core.bus import EventBus
from backend.core.clock import SYSTEM_CLOCK, Clock

Status = Literal["ok", "degraded", "down", "unknown", "disabled"]


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HealthRegistry:
    def __init__(self, bus: EventBus, clock: Clock = SYSTEM_CLOCK) -> None:
        self._bus = bus
        self._clock = clock
        self._items: dict[str, IntegrationHealth] = {}

    def register(self, name: str, kind: str, target: str, status: Status = "unknown") -> None:
        if name not in self._items:
            self._items[name] = IntegrationHealth(
                name=name, kind=kind, target=target, status=status
            )
            self._publish(self._items[name])

    def success(self, name: str, latency_ms: float, detail: str | None = None) -> None:
        item = self._items[name]
        item.status = "ok"
        item.latency_ms = round(latency_ms, 2)
        item.last_success = self._clock.time()
        item.checks += 1
        item.detail = detail
        self._publish(item)

    def failure(self, name: str, error: str, latency_ms: float | None = None) -> None:
        item = self._items[name]
        item.checks += 1
        item.failures += 1
        item.last_error = error[:300]
        item.last_error_at = self._clock.time()
        if latency_ms is not None:
            item.latency_ms = round(latency_ms, 2)
        item.status = "degraded" if item.status == "ok" else "down"
        self._publish(item)

    def set_status(self, name: str, status: Status, detail: str | None = None) -> None:
        item = self._items[name]
        item.status = status
        item.detail = detail
        self._publish(item)

    def get(self, name: str) -> IntegrationHealth | None:
        return self._items.get(name)

    def snapshot(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in sorted(self._items.values(), key=lambda i: i.name)]

    def overall(self) -> Status:
        statuses = {item.status for item in self._items.values() if item.status != "disabled"}
        if not statuses or statuses == {"ok"}:
            return "ok"
        if "down" in statuses:
            return "down" if statuses == {"down"} else "degraded"
        return "degraded" if statuses - {"ok", "unknown"} else "ok"

    def _publish(self, item: IntegrationHealth) -> None:
        self._bus.publish("health", "health.update", item.to_dict())
