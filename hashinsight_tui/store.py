"""The console's plain data model: what the backend last told us, and when."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from hashinsight_tui.client import HealthReport, Integration, KeyInfo, StreamEvent

RECENT_EVENTS_PER_CHANNEL = 500
ENTITY_KEYS = ("id", "name", "key", "venue", "symbol")
# Whole-sweep events (one row per miner): each one counts, so they are queued in order for the
# screen that applies them instead of kept as "latest" or in the recent-events list, where a
# quiet channel would keep hundreds of them (megabytes each at 10,000 miners) alive.
BULK_EVENTS = frozenset({"fleet.readings"})
BULK_QUEUE = 16


def entity_key(event: StreamEvent) -> str:
    """Which thing an event is about, so the latest state per thing can be kept."""
    for name in ENTITY_KEYS:
        value = event.data.get(name)
        if value is not None:
            return str(value)
    return event.event


@dataclass
class Store:
    url: str = ""
    state: str = "connecting"
    detail: str = ""
    retry_in_s: float | None = None
    key: KeyInfo | None = None
    health: HealthReport | None = None
    integrations: dict[str, Integration] = field(default_factory=dict)
    # REST snapshots fetched by screens, by name (e.g. "prices.current"), with when they arrived.
    snapshots: dict[str, Any] = field(default_factory=dict)
    snapshot_at: dict[str, float] = field(default_factory=dict)
    # Streamed state: channel -> entity key -> latest data; and the recent events of each channel.
    latest: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    recent: dict[str, deque[StreamEvent]] = field(default_factory=dict)
    updated_at: float | None = None
    events_applied: int = 0
    # Bulk events in arrival order, numbered (`bulk_seq` is the newest number) so a screen
    # applies each once; a screen that falls BULK_QUEUE behind reloads instead.
    bulk: deque[tuple[int, StreamEvent]] = field(default_factory=lambda: deque(maxlen=BULK_QUEUE))
    bulk_seq: int = 0

    def set_health(self, report: HealthReport) -> None:
        self.health = report
        self.integrations = {item.name: item for item in report.integrations}
        self.updated_at = time.time()

    def set_snapshots(self, values: dict[str, Any]) -> None:
        now = time.time()
        self.snapshots.update(values)
        self.snapshot_at.update(dict.fromkeys(values, now))
        self.updated_at = now

    def apply(self, events: list[StreamEvent]) -> None:
        for event in events:
            if event.event in BULK_EVENTS:
                self.bulk_seq += 1
                self.bulk.append((self.bulk_seq, event))
                self.events_applied += 1
                continue
            if event.channel == "health" and event.event == "health.update":
                item = Integration.from_dict(event.data)
                self.integrations[item.name] = item
            self.latest.setdefault(event.channel, {})[entity_key(event)] = event.data
            self.recent.setdefault(event.channel, deque(maxlen=RECENT_EVENTS_PER_CHANNEL)).append(
                event
            )
            self.events_applied += 1
        if events:
            self.updated_at = time.time()
            if self.health is not None:
                items = tuple(sorted(self.integrations.values(), key=lambda i: i.name))
                self.health = replace(self.health, integrations=items)

    def bulk_since(self, seq: int) -> tuple[list[StreamEvent], bool]:
        """Bulk events numbered after `seq`, and whether any were already dropped."""
        events = [event for number, event in self.bulk if number > seq]
        dropped = bool(self.bulk) and self.bulk[0][0] > seq + 1
        return events, dropped

    def age_s(self) -> float | None:
        return None if self.updated_at is None else time.time() - self.updated_at
