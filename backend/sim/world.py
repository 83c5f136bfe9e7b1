"""The demo world: every simulator the product talks to, on 127.0.0.1, started and stopped together.

`hashinsight demo` runs the backend inside this world; `hashinsight sim` runs the world alone.
`settings_overrides()` points each integration's base URL or host list at its simulator.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any


class SimWorld:
    def __init__(self, *, miners: int = 200) -> None:
        self.miners = miners
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def __aenter__(self) -> SimWorld:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    def settings_overrides(self) -> dict[str, Any]:
        return {}

    def describe(self) -> list[str]:
        return ["no simulators are part of this build yet"]
