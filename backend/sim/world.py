"""The demo world: every simulator the product talks to, on 127.0.0.1, started and stopped together.

`hashinsight demo` runs the backend inside this world; `hashinsight sim` runs the world alone. Each
simulator points its integration at itself through `settings_overrides()`.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Protocol

from backend.sim.bitmart import BitmartSimulator
from backend.sim.fleet_demo import demo_fleet
from backend.sim.ipapi import IpApiSimulator
from backend.sim.markets import MarketSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from backend.sim.pinata import PinataSimulator


class Simulator(Protocol):
    """A loopback server speaking one external system's real wire format."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def settings_overrides(self) -> dict[str, Any]:
        """Settings that point the product's client at this simulator."""
        ...

    def describe(self) -> list[str]:
        """One line per address served, for `hashinsight sim`."""
        ...


def default_simulators(miners: int) -> list[Simulator]:
    """The simulators of the demo world, in start order."""
    return [
        demo_fleet(miners),
        MarketSimulator(),
        PinataSimulator(),
        IpApiSimulator(),
        BitmartSimulator(demo_trades=True),
        NdauNodeSimulator(),
    ]


class SimWorld:
    def __init__(self, *, miners: int = 200, simulators: list[Simulator] | None = None) -> None:
        self.miners = miners
        self.simulators = simulators if simulators is not None else default_simulators(miners)
        self._started: list[Simulator] = []

    async def start(self) -> None:
        try:
            for simulator in self.simulators:
                await simulator.start()
                self._started.append(simulator)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            simulator = self._started.pop()
            with contextlib.suppress(Exception):
                await simulator.stop()
            cleanup = getattr(simulator, "cleanup", None)  # files a simulator wrote (key files)
            if cleanup is not None:
                with contextlib.suppress(OSError):
                    cleanup()

    async def __aenter__(self) -> SimWorld:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    def settings_overrides(self) -> dict[str, Any]:
        overrides: dict[str, Any] = {}
        for simulator in self.simulators:
            overrides.update(simulator.settings_overrides())
        return overrides

    def describe(self) -> list[str]:
        lines = [line for simulator in self.simulators for line in simulator.describe()]
        return lines or ["no simulators are part of this build yet"]
