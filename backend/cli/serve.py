"""`hashinsight serve`: the backend headless, and the run loop `collector` and `demo` share."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

import click

from backend.cli.errors import fail, with_settings
from backend.core.db import DatabaseError

if TYPE_CHECKING:
    from backend.fleet.shard import FleetRole
    from backend.runtime import World
    from backend.settings import Settings


@click.command("serve", help="run the backend headless (API, pollers, issuer)")
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port to listen on (default 8765)")
@click.option(
    "--no-collect",
    is_flag=True,
    help="poll no miners: API and console only, the fleet read from the shared database "
    "and kept live from the collectors' events (needs DATABASE_URL; REDIS_URL for live)",
)
@with_settings()
def serve(settings: Settings, host: str | None, port: int | None, no_collect: bool) -> int:
    from backend.fleet.shard import FleetRole

    updates = {k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}
    role = FleetRole(collect=not no_collect)
    return asyncio.run(serve_backend(settings.model_copy(update=updates), "serve", role))


async def serve_backend(
    settings: Settings, mode: str, role: FleetRole | None = None, world: World | None = None
) -> int:
    """Run a backend on this loop until SIGINT/SIGTERM; print URL and keys first."""
    from backend.core.logging import setup_logging
    from backend.runtime import Backend

    setup_logging(settings.log_level, None, to_stderr=True)
    backend = Backend(settings, mode=mode, fleet_role=role, world=world)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, backend.request_stop)
    try:
        await backend.start()
        if mode == "collector":
            assert role is not None and role.shard is not None
            print(f"HashInsight collector: shard {role.shard.key}", flush=True)
            print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
            await backend.wait_stopped()
            return 0
        print(f"HashInsight API: {backend.url}", flush=True)
        if mode == "demo":
            print(f"Operator key: {backend.initial_operator_key}", flush=True)
        elif backend.initial_operator_key:
            print(
                f"Initial operator key (shown once, store it now): {backend.initial_operator_key}",
                flush=True,
            )
        # Only once it is out: a start killed before this line shows the same key next time.
        await backend.initial_key_shown()
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        await backend.wait_stopped()
    except (OSError, DatabaseError) as exc:
        return fail(exc)
    finally:
        if hasattr(backend, "db"):
            await backend.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await _let_cleanups_finish(settings.shutdown_timeout_s)
    return 0


async def _let_cleanups_finish(grace_s: float) -> None:
    """A stop step abandoned on a loaded host may leave a rollback or close still running; the
    loop's teardown would cancel it half-way (a traceback from the connection pool). This
    process's loop is ours alone: give what is left a bounded grace to end on its own."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if left:
        await asyncio.wait(left, timeout=grace_s)
