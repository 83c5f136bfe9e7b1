"""Shared fixtures: isolated settings, a backend on a loopback port, keys with given scopes."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backend.core.db import Database, run_migrations
from backend.runtime import Backend, BackendThread
from backend.settings import Settings, load_settings
from backend.sim.demo_world import DemoWorld
from tests.helpers import isolated_env, seed_migrated_database
from tests.servers import create_pg_database, postgres_server, redis_server

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@pytest.fixture(autouse=True, scope="session")
def _no_name_lookups_off_this_machine() -> Iterator[None]:
    """No network but loopback: resolving any other name would ask a DNS server elsewhere (a
    fuzzed webhook host, say), so such a lookup fails here as an unknown name does."""
    real = socket.getaddrinfo

    def loopback_only(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and isinstance(name, str) and name.lower() not in LOOPBACK_NAMES:
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests") from None
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.getaddrinfo = loopback_only  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No network but loopback: providers that would call the internet are off unless a test
    # points them at a simulator.
    return load_settings(
        isolated_env(tmp_path),
        overrides={
            "api_port": 0,
            "health_check_interval_s": 1.0,
            "ws_heartbeat_s": 2.0,
            "market_enabled": False,
        },
    )


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    instance = Backend(settings, mode="serve")
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def backend_thread(settings: Settings) -> Iterator[BackendThread]:
    """The demo world's backend in its own thread and loop, as the console embeds it.

    Demo mode points every provider at its loopback simulator, so they may all run."""
    thread = BackendThread(
        settings.model_copy(update={"market_enabled": True}), mode="demo", world=DemoWorld()
    )
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def operator_key(backend: Backend) -> str:
    assert backend.initial_operator_key is not None
    return backend.initial_operator_key


# --- Storage and shared state on both backends -------------------------------------------------
# The embedded default (SQLite, in-process) and the scale-out one (PostgreSQL, Redis) run the same
# storage, bus, cache, rate-limit and lease suites. The servers are real, started once per session
# on loopback from the distribution's binaries, and stopped at the end.

ENGINES = ["sqlite", "postgresql"]


def _server_or_skip(
    start: Callable[[], contextlib.AbstractContextManager[str]], package: str
) -> Iterator[str]:
    try:
        with start() as url:
            yield url
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (CI installs it; apt-get install {package})")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from _server_or_skip(redis_server, "redis-server")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _server_or_skip(postgres_server, "postgresql")


@pytest.fixture
async def pg_database(postgres_url: str) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return await create_pg_database(postgres_url)


@pytest.fixture(scope="session")
def pg_template(postgres_url: str) -> str:
    """A PostgreSQL database migrated once per session; tests get copies of it."""
    with ThreadPoolExecutor(1) as thread:  # Alembic runs its own loop: never inside ours
        url = thread.submit(asyncio.run, create_pg_database(postgres_url, "hi_template")).result()
        thread.submit(run_migrations, url).result()
    return "hi_template"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database at the latest schema, private to one test, on each engine in turn."""
    if engine == "sqlite":
        path = tmp_path / "state.db"
        seed_migrated_database(path)
        return f"sqlite+aiosqlite:///{path}"
    server = request.getfixturevalue("postgres_url")
    return await create_pg_database(server, template=request.getfixturevalue("pg_template"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.close()
