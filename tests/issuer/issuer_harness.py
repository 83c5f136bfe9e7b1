"""An issuer wired like production, against the simulators, without the rest of the backend.

Used in-process by the engine and signer tests and, as `python -m tests.issuer.crash_child`, in a
subprocess the crash tests SIGKILL. The signing service dials the issuer's real websocket route.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from backend.core.bus import EventBus
from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.core.service import ServiceContext
from backend.issuer.service import IssuerService
from backend.ndau import signer_protocol as proto
from backend.settings import Settings, ensure_dirs, load_settings
from backend.signer.client import SigningService
from backend.signer.config import load_signer_config
from backend.sim.bitmart import BitmartSimulator, LoopbackAsgiServer
from backend.sim.ndau_node import NdauNodeSimulator
from tests.helpers import isolated_env


def issuer_settings(
    tmp_path: Path,
    bitmart: BitmartSimulator,
    node: NdauNodeSimulator,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "bitmart_url": bitmart.url,
        "issuer_bitmart_key_file": bitmart.key_file,
        "ndau_node_url": node.url,
        "issuer_signer_keys": node.identity_public.to_text(),
        "issuer_start_at": datetime.fromtimestamp(time.time() - 600, UTC).isoformat(),
        "issuer_mode": "auto",
        "issuer_poll_s": 0.2,
        "issuer_settle_s": 0.0,
        "issuer_lease_ttl_s": 5.0,
        "issuer_sign_timeout_s": 5.0,
        "http_retries": 0,
        "api_port": 0,
    }
    values.update(overrides)
    return load_settings(isolated_env(tmp_path), overrides=values)


@dataclass
class RunningIssuer:
    """One issuer process's parts: service, its hub served over HTTP, and its database."""

    settings: Settings
    db: Database
    bus: EventBus
    health: HealthRegistry
    http: HttpClientFactory
    service: IssuerService
    server: LoopbackAsgiServer
    env: dict[str, str] = field(default_factory=dict)

    @property
    def signer_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}{proto.PATH}"

    async def stop(self) -> None:
        await self.service.stop()
        await self.server.stop()
        await self.http.aclose()
        await self.db.close()


def _api_app(service: IssuerService) -> Any:
    """The production router (status, issues, decisions and the /signer websocket)."""
    from fastapi import FastAPI

    from backend.issuer import routes as issuer_routes

    app = FastAPI()
    app.include_router(issuer_routes.router)
    app.state.backend = SimpleNamespace(services_by_name={"issuer": service})
    return app


def _hub_only_app(service: IssuerService) -> Any:
    """Just the signer websocket, calling the same hub as the API route (starts faster)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def signer(websocket: WebSocket) -> None:
        await websocket.accept()
        await service.hub.serve(websocket, "child")

    return Starlette(routes=[WebSocketRoute(proto.PATH, signer)])


async def start_issuer(
    settings: Settings,
    *,
    port: int = 0,
    env: dict[str, str] | None = None,
    full_api: bool = True,
    schema: str = "create_all",
) -> RunningIssuer:
    """`schema`: "migrate" (Alembic), "create_all" (same tables, fast) or "none" (exists)."""
    ensure_dirs(settings)
    db = Database(settings.effective_database_url)
    if schema == "migrate":
        await db.upgrade()
    elif schema == "create_all":
        from backend.models import Base

        names = ("issues", "issue_trades", "issuer_cursor", "leases", "audit_log")
        tables = [Base.metadata.tables[name] for name in names]
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all, tables=tables)
    bus = EventBus()
    health = HealthRegistry(bus)
    http = HttpClientFactory(health, timeout_s=5.0, retries=0, backoff_base_s=0.05)
    context = ServiceContext(
        settings=settings, db=db, bus=bus, health=health, http=http, clock=SYSTEM_CLOCK
    )
    service = IssuerService(context, env=env or {})
    app = _api_app(service) if full_api else _hub_only_app(service)
    server = LoopbackAsgiServer(app, port, websockets=True)
    await server.start()
    await service.start()
    return RunningIssuer(settings, db, bus, health, http, service, server, env or {})


@dataclass
class SignerRunner:
    service: SigningService
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.service.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


def start_signer(node: NdauNodeSimulator, tmp_path: Path, urls: list[str]) -> SignerRunner:
    path = node.write_signer_config(tmp_path / "signer.toml", urls, reconnect=(0.05, 0.3))
    service = SigningService(load_signer_config(path), ping_interval_s=1.0)
    return SignerRunner(service, asyncio.create_task(service.run()))
