"""How a service plugs into the Backend: it gets one context, and has a start and a stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.core.settings import CoreSettings


@dataclass(frozen=True)
class ServiceContext:
    """Everything a service may use from the core; services build nothing of this themselves."""

    settings: CoreSettings
    db: Database
    bus: EventBus
    health: HealthRegistry
    http: HttpClientFactory
    clock: Clock


class Service(Protocol):
    """A long-running part of the backend (poller, scheduler, issuer...)."""

    name: ClassVar[str]
    # Bus channels this service publishes; the WebSocket hub lets clients subscribe to them.
    channels: ClassVar[frozenset[str]]

    async def start(self) -> None:
        """Start background tasks; return quickly (never wait for a first poll)."""

    async def stop(self) -> None:
        """Stop background tasks and flush pending writes; must finish within a few seconds."""
