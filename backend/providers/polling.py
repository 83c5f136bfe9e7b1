"""Poll loops that re-arm after each round, so two rounds of one loop never overlap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("hashinsight.market")


async def run_every(interval_s: float, poll: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `poll` now and then `interval_s` after each round ends; errors are logged, not fatal."""
    while True:
        try:
            await poll()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s poll failed", what)
        await asyncio.sleep(interval_s)


async def cancel_all(tasks: list[asyncio.Task[None]], timeout_s: float = 3.0) -> None:
    """Cancel and wait, cancelling again while any task is still running: on Python 3.11 a
    cancellation can be lost inside `asyncio.wait_for` (gh-86296), and stop must still finish."""
    pending = {task for task in tasks if not task.done()}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            log.warning("%d poll task(s) did not stop in %.0fs", len(pending), timeout_s)
            break
        _done, pending = await asyncio.wait(pending, timeout=min(0.5, remaining))
    tasks.clear()
