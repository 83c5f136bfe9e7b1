"""Shared pieces of the fleet service tests: a poller wired to a simulated fleet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.core.bus import EventBus, Subscription
from backend.core.clock import Clock
from backend.core.db import Database
from backend.fleet.alerts import AlertBook, RuleSet
from backend.fleet.client import CgminerClient, poll
from backend.fleet.drivers import ControlContext, MinerTarget
from backend.fleet.inventory import MinerSpec
from backend.fleet.normalize import detect_family
from backend.fleet.poller import Poller
from backend.fleet.store import FleetStore
from backend.settings import Settings
from backend.sim.fleet import FleetSimulator

FAST: dict[str, Any] = {
    "fleet_connect_timeout_s": 0.5,
    "fleet_read_timeout_s": 0.5,
    "fleet_poll_interval_s": 1.0,
}


def specs_for(sim: FleetSimulator) -> list[MinerSpec]:
    return [
        MinerSpec(
            id=f"m{m.index}",
            host=m.host,
            port=m.port,
            site="A" if m.index % 2 else "B",
            web_port=m.web_port,
            grpc_port=m.grpc_port,
        )
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


async def identified(sim: FleetSimulator, index: int, *, timeout_s: float = 1.0) -> MinerTarget:
    """The driver's view of simulated miner ``index`` after one poll identified it."""
    miner = sim.miners[index]
    client = CgminerClient(
        miner.host, miner.port, connect_timeout=timeout_s, read_timeout=timeout_s
    )
    snap = await poll(miner.host, miner.port, client=client)
    replies = await client.multi(("version", "summary", "stats"))
    return MinerTarget(
        miner_id=f"m{index}",
        host=miner.host,
        port=miner.port,
        client=client,
        site="A",
        family=detect_family(replies),
        firmware=snap.firmware,
        model=snap.model,
        web_port=miner.web_port,
        grpc_port=miner.grpc_port,
    )


def quick_context(**overrides: Any) -> ControlContext:
    """Short deadlines: a loaded 2-core machine still answers loopback within them."""
    values: dict[str, Any] = {"web_timeout_s": 3.0, "verify_timeout_s": 5.0}
    values["verify_interval_s"] = 0.1
    values.update(overrides)
    return ControlContext(**values)
