"""`hashinsight sim`: the simulators alone, their addresses printed, until Ctrl+C."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

import click

from backend.cli.errors import with_settings

if TYPE_CHECKING:
    from backend.settings import Settings


@click.command("sim", help="run the simulators alone and print their addresses")
@click.option("--miners", type=int, default=50, help="simulated miners")
@with_settings(dirs=False)
def sim(settings: Settings, miners: int) -> int:
    return asyncio.run(_run_sims(miners))


async def _run_sims(miners: int) -> int:
    from backend.sim.world import SimWorld

    world = SimWorld(miners=miners)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with world:
        for line in world.describe():
            print(line, flush=True)
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        await stop.wait()
    return 0
