"""The console's plain data model: what the backend last told us, and when."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from hashinsight_tui.client import HealthReport, Integration, KeyInfo, StreamEvent


@dataclass
class Store:
    url: str = ""
    state: str = "connecting"
    detail: str = ""
    retry_in_s: float | None = None
    key: KeyInfo | None = None
    health: HealthReport | None = None
    integrations: dict[str, Integration] = field(default_factory=dict)
    updated_at: float | None = None
    events_applied: int = 0

    def set_health(self, report: HealthReport) -> None:
        self.health = report
        self.integrations = {item.name: item for item in report.integrations}
        self.updated_at = time.time()

    def apply(self, events: list[StreamEvent]) -> None:
        for event in events:
            if event.channel == "health" and event.event == "health.update":
                item = Integration.from_dict(event.data)
                self.integrations[item.name] = item
            self.events_applied += 1
        if events:
            self.updated_at = time.time()
            if self.health is not None:
                items = tuple(sorted(self.integrations.values(), key=lambda i: i.name))
                self.health = replace(self.health, integrations=items)

    def age_s(self) -> float | None:
        return None if self.updated_at is None else time.time() - self.updated_at
