"""What the API asks of the backend that serves it.

The runtime's `Backend` is the one implementation; the API names this protocol instead, so the
routes depend on what they use (settings, database, bus, auth, the running services), not on the
composition root that builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi import APIRouter

    from backend.auth.service import AuthService
    from backend.core.bus import EventBus
    from backend.core.db import Database
    from backend.core.service import Service
    from backend.settings import Settings
    from hashinsight_contract.common import HealthReport


class ApiHost(Protocol):
    settings: Settings
    db: Database
    bus: EventBus
    auth: AuthService
    channels: set[str]  # every channel a WebSocket client may subscribe to
    ws_clients: set[Any]
    services_by_name: dict[str, Service]

    @property
    def routers(self) -> list[APIRouter]: ...

    def health_report(self) -> HealthReport: ...

    async def run_health_checks(self) -> None: ...
