"""Shared pieces of the fleet service tests: a poller wired to a simulated fleet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.core.bus import EventBus, Subscription
from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.settings import Settings
from backend.fleet.alerts import AlertBook, RuleSet
from backend.fleet.inventory import MinerSpec
from backend.fleet.poller import Poller
from backend.fleet.store import FleetStore
from backend.sim.fleet import FleetSimulator

FAST: dict[str, Any] = {
    "fleet_connect_timeout_s": 0.5,
    "fleet_read_timeout_s": 0.5,
    "fleet_poll_interval_s": 1.0,
}


def specs_for(sim: FleetSimulator) -> list[MinerSpec]:
    return [
        MinerSpec(id=f"m{m.index}", host=m.host, port=m.port, site="A" if m.index % 2 else "B")
        for m in sim.miners
    ]


def make_poller(
    settings: Settings,
    db: Database,
    bus: EventBus,
    clock: Clock,
    specs: Sequence[MinerSpec],
    **overrides: Any,
) -> Poller:
    settings = settings.model_copy(update={**FAST, **overrides})
    poller = Poller(
        settings,
        FleetStore(db),
        bus,
        clock,
        rules=RuleSet(settings),
        book=AlertBook(settings.fleet_alert_raise_sweeps, settings.fleet_alert_clear_sweeps),
        mailer=None,
    )
    poller.set_inventory(specs)
    return poller


def drain(subscription: Subscription) -> list[Any]:
    """Every event queued so far, without waiting."""
    events = []
    while not subscription._queue.empty():
        item = subscription._queue.get_nowait()
        if item is not None:
            events.append(item)
    return events
