"""The Backend: builds every service from settings, serves the API, starts and stops cleanly.

It runs on its own event loop: the main loop for `hashinsight serve`, or a dedicated thread
(`BackendThread`) when a console embeds it, never Textual's loop. In mode `collector`
(`hashinsight collector --shard I/N`) it runs only what polling a shard needs (market and chain
for the economics, the fleet) and serves no API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, Literal, Protocol, TypeVar

import uvicorn
from fastapi import APIRouter

from backend import __version__
from backend.api.app import create_app
from backend.api.ws_wire import FanoutWebSocketProtocol
from backend.auth.scopes import OPERATOR_SCOPES
from backend.auth.service import AuthService
from backend.core.asgi import QuietUvicornServer
from backend.core.bus import EventBus
from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.core.http_wire import http_protocol
from backend.core.redis_bridge import RedisBusBridge
from backend.core.secrets import (
    load_backend_secrets,
    remove_operator_token,
    write_operator_token,
)
from backend.core.service import Service, ServiceContext
from backend.fleet.shard import FleetRole
from backend.registry import FEATURES, Feature, build_services
from backend.settings import Settings, ensure_dirs
from backend.wallet.service import WalletService
from hashinsight_contract.common import BusStats, HealthReport

log = logging.getLogger("hashinsight.backend")

Mode = Literal["serve", "embedded", "demo", "collector"]


class World(Protocol):
    """What runs beside a backend, such as the demo's simulators: started before it (its
    settings laid over the backend's), given the started backend, stopped after it. The runtime
    knows no simulator; the demo command hands one in."""

    async def start(self) -> Mapping[str, Any]: ...

    def started(self, backend: Backend) -> Coroutine[Any, Any, None] | None: ...

    async def stop(self) -> None: ...


T = TypeVar("T")
LOCAL_TOKEN_NAME = "local console token"
INITIAL_KEY_NAME = "initial operator"
BASE_CHANNELS = frozenset({"health"})


class Backend:
    def __init__(
        self,
        settings: Settings,
        *,
        mode: Mode = "serve",
        fleet_role: FleetRole | None = None,
        world: World | None = None,
        features: tuple[Feature, ...] = FEATURES,
    ) -> None:
        self.settings = settings
        self.world = world
        self.features = features
        self.mode: Mode = mode
        self.fleet_role = fleet_role or FleetRole()
        if mode == "collector" and (self.fleet_role.shard is None or not self.fleet_role.collect):
            raise ValueError("a collector needs a shard to poll")
        self.bus = EventBus()
        self.health = HealthRegistry(self.bus)
        self.channels: set[str] = set(BASE_CHANNELS)
        self.ws_clients: set[Any] = set()
        self.started_at = time.time()
        self.initial_operator_key: str | None = None
        self._initial_key_id: str | None = None  # still to be confirmed shown
        self.operator_token: str | None = None
        self.port: int | None = None
        self._listen_sock: socket.socket | None = None  # bound first, served once all started
        self._stop_requested = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: QuietUvicornServer | None = None
        self._server_task: asyncio.Task[Any] | None = None
        self.services: list[Service] = []
        self.services_by_name: dict[str, Service] = {}
        self.redis_bridge: RedisBusBridge | None = None
        self.db: Database
        self.auth: AuthService
        self.http: HttpClientFactory

    @property
    def routers(self) -> list[APIRouter]:
        """The API routes of this backend's features (the API adds its own: health, me, /ws)."""
        return [router for feature in self.features for router in feature.routers()]

    @property
    def url(self) -> str:
        host = self.settings.api_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Open the database, run migrations, bootstrap keys, start services and the API."""
        if self.world is not None:
            self.settings = self.settings.model_copy(update=dict(await self.world.start()))
        if self.mode != "collector":
            # Claim the port before anything starts: a busy port stops a start that has
            # touched nothing yet (no lease taken, no connection to cancel on the way out).
            self._listen_sock = _bind(self.settings.api_host, self.settings.api_port)
            self.port = self._listen_sock.getsockname()[1]
        ensure_dirs(self.settings)
        self.db = Database(self.settings.effective_database_url)
        await self.db.upgrade()
        self.health.register("database", "database", _db_target(self.db))
        if self.mode != "collector":
            # --- shared state (redis) ---
            # Key revocations travel on the bus: with REDIS_URL every instance forgets the key
            # at once.
            self.auth = AuthService(self.db, load_backend_secrets(self.settings), bus=self.bus)
            # --- end shared state (redis) ---
        self.http = HttpClientFactory(
            self.health,
            timeout_s=self.settings.http_timeout_s,
            retries=self.settings.http_retries,
            breaker_failures=self.settings.breaker_failures,
            breaker_cooldown_s=self.settings.breaker_cooldown_s,
        )
        self.context = ServiceContext(
            settings=self.settings,
            db=self.db,
            bus=self.bus,
            health=self.health,
            http=self.http,
            clock=SYSTEM_CLOCK,
        )
        if self.settings.redis_url:
            self.redis_bridge = RedisBusBridge(self.bus, self.settings.redis_url, self.health)
            await self.redis_bridge.start()
        self.services = build_services(
            self.context,
            fleet_role=self.fleet_role,
            collector=self.mode == "collector",
            features=self.features,
        )
        self.services_by_name = {service.name: service for service in self.services}
        for service in self.services:
            self.channels |= service.channels
        if self.mode != "collector":
            await self._bootstrap_operator_key()
        for service in self.services:
            await service.start()
        if self.mode != "collector":
            await self._start_api()
            await self._issue_operator_token()
        story = self.world.started(self) if self.world is not None else None
        if story is not None:
            self._tasks.append(asyncio.create_task(story, name="world"))
        await self.run_health_checks()
        self._tasks.append(asyncio.create_task(self._health_loop(), name="health-loop"))
        log.info("backend started in %s mode at %s", self.mode, self.url if self.port else "-")

    async def _bootstrap_operator_key(self) -> None:
        """The first operator key: created once, then offered at every start until shown.

        It is created marked "to show" in one transaction; only `initial_key_shown()` (called by
        whoever printed it) clears that. A start killed between creating and printing the key
        offers the same key again next time, instead of it being lost for good.
        """
        for info, full_key in await self.auth.unshown_keys():
            if info.name == INITIAL_KEY_NAME and info.owner_type == "operator":
                self.initial_operator_key, self._initial_key_id = full_key, info.key_id
                return
        keys = await self.auth.list_keys()
        if any(k.owner_type == "operator" and k.name != LOCAL_TOKEN_NAME for k in keys):
            return
        info, full_key = await self.auth.create_key(
            name=INITIAL_KEY_NAME,
            owner_type="operator",
            scopes=OPERATOR_SCOPES,
            tier="operator",
            show_pending=True,
        )
        self.initial_operator_key, self._initial_key_id = full_key, info.key_id

    async def initial_key_shown(self) -> None:
        """Call once the initial operator key was printed: later starts no longer show it."""
        if self._initial_key_id is not None:
            await self.auth.mark_shown(self._initial_key_id, actor=f"backend ({self.mode})")
            self._initial_key_id = None

    async def _issue_operator_token(self) -> None:
        """A short-lived operator key in a 0600 file: local consoles attach without typing one."""
        for key in await self.auth.list_keys():
            if key.name == LOCAL_TOKEN_NAME and key.owner_type == "operator":
                await self.auth.revoke(key.key_id, actor="backend")
        ttl = timedelta(hours=self.settings.operator_token_ttl_h)
        info, token = await self.auth.create_key(
            name=LOCAL_TOKEN_NAME,
            owner_type="operator",
            scopes=OPERATOR_SCOPES,
            tier="operator",
            expires_in=ttl,
            actor="backend",
        )
        self.operator_token = token
        expires = info.expires_at.timestamp() if info.expires_at else 0.0
        write_operator_token(self.settings, self.url, token, expires)

    async def _start_api(self) -> None:
        sock, self._listen_sock = self._listen_sock, None
        assert sock is not None  # bound at the start of start()
        wallet = self.services_by_name.get("wallet")
        if isinstance(wallet, WalletService):  # Sign-In messages name the real bound address
            wallet.bind_origin(self.url)
        config = uvicorn.Config(
            create_app(self),
            log_config=None,  # uvicorn's records go to our redacting handlers (core/asgi.py)
            log_level=None,
            lifespan="off",
            timeout_graceful_shutdown=max(1, int(self.settings.shutdown_timeout_s) - 1),
            ws_max_size=64 * 1024,
            ws=FanoutWebSocketProtocol,  # event frames written once, to every client (api/ws.py)
            http=http_protocol(self.settings.api_http),  # httptools, head bounded as h11's
            proxy_headers=False,  # notary & wallet: X-Forwarded-For only from trusted proxies
        )
        # Request lines only at debug level, and scrubbed like every other record.
        self._server = QuietUvicornServer(config, access_log=self.settings.log_level == "debug")
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api")
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise RuntimeError("API server stopped during start-up")
            await asyncio.sleep(0.01)

    async def run_health_checks(self) -> None:
        started = time.monotonic()
        try:
            # asyncio.timeout, not wait_for: wait_for can swallow a cancel (gh-86296) and hang stop
            async with asyncio.timeout(5):
                await self.db.ping()
        except Exception as exc:  # any failure is a health fact, not a crash
            self.health.failure("database", f"{type(exc).__name__}: {exc}"[:200])
        else:
            self.health.success("database", (time.monotonic() - started) * 1000)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_check_interval_s)
            await self.run_health_checks()

    def health_report(self) -> HealthReport:
        return HealthReport(
            status=self.health.overall(),
            version=__version__,
            started_at=self.started_at,
            uptime_s=round(time.time() - self.started_at, 1),
            mode=self.mode,
            integrations=self.health.snapshot(),
            bus=BusStats(**self.bus.stats()),
            websocket_clients=len(self.ws_clients),
        )

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait_stopped(self) -> None:
        await self._stop_requested.wait()

    async def stop(self) -> None:
        """Close streams, stop the API, stop services (flushing their writes), close the database.

        Every step is bounded: a step that hangs is abandoned with a warning, so a stop always
        ends within a few seconds per step.
        """
        deadline = self.settings.shutdown_timeout_s
        if self._listen_sock is not None:  # a start that failed before the API served
            self._listen_sock.close()
            self._listen_sock = None
        for task in self._tasks:
            task.cancel()
        await _bounded(
            "background loops", asyncio.gather(*self._tasks, return_exceptions=True), deadline
        )
        self.bus.close()  # WebSocket clients are told 1001 and let go
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            if not await _bounded("API server", asyncio.shield(self._server_task), deadline):
                self._server.force_exit = True
                await _bounded("API server (forced)", asyncio.shield(self._server_task), 1.0)
        # The token goes once no request can use it, and while the Redis bridge still runs:
        # its revocation event must reach the other instances (the bridge drains at stop).
        if self.operator_token:
            key_id = self.operator_token.split("_")[1]
            await _bounded("token revoke", self.auth.revoke(key_id, actor="backend"), deadline)
            remove_operator_token(self.settings, self.operator_token)
        for service in reversed(self.services):
            await _bounded(f"service {service.name}", service.stop(), deadline)
        if self.redis_bridge is not None:
            await _bounded("redis bus", self.redis_bridge.stop(), deadline)
        if hasattr(self, "http"):
            await _bounded("http clients", self.http.aclose(), deadline)
        await _bounded("database", self.db.close(), deadline)
        if self.world is not None:
            await _bounded("world", self.world.stop(), deadline)
        log.info("backend stopped")

    async def run(self, ready: threading.Event | None = None) -> None:
        """Start, wait until asked to stop, stop: the whole life of a backend."""
        try:
            await self.start()
            if ready is not None:
                ready.set()
            await self.wait_stopped()
        finally:
            if hasattr(self, "db"):
                await self.stop()


async def _bounded(what: str, step: Awaitable[Any], seconds: float) -> bool:
    """Await a shutdown step for at most `seconds`; abandon it (cancelled) if it hangs or fails."""
    task = asyncio.ensure_future(step)
    done, _pending = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("%s did not stop within %.0fs; abandoned", what, seconds)
        return False
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s did not stop cleanly: %s", what, task.exception())
        return False
    return True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it Nagle + delayed ACK cap keep-alive clients at
    # ~22 requests/s (uvicorn writes headers and body separately). (api keys & partners)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _db_target(db: Database) -> str:
    url = db.url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
    return url


class BackendThread:
    """An embedded backend in its own thread and event loop, for a console that found none."""

    def __init__(
        self, settings: Settings, *, mode: Mode = "embedded", world: World | None = None
    ) -> None:
        self.backend = Backend(settings, mode=mode, world=world)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 60.0) -> Backend:
        self._thread = threading.Thread(target=self._main, name="hashinsight-backend", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                break
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise TimeoutError("embedded backend did not start in time")
        return self.backend

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.backend.run(self._ready))
        except BaseException as exc:
            self._error = exc
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the backend's loop from another thread and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.backend.request_stop)
            self._thread.join(timeout)
