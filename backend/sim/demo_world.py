"""The demo's world: every simulator on loopback, the backend pointed at them, and the story
that fills the on-call queue once the fleet has been polled."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from backend.sim.demo_story import run_demo_story
from backend.sim.world import SimWorld

if TYPE_CHECKING:
    from backend.runtime import Backend


class DemoWorld:
    """A `backend.runtime.World` for `hashinsight demo` and the tests that run the demo."""

    def __init__(self) -> None:
        self.sims = SimWorld()

    async def start(self) -> Mapping[str, Any]:
        await self.sims.start()
        return self.sims.settings_overrides()

    def started(self, backend: Backend) -> Coroutine[Any, Any, None] | None:
        fleet = backend.services_by_name.get("fleet")
        return None if fleet is None else run_demo_story(backend.auth, fleet)

    async def stop(self) -> None:
        await self.sims.stop()
