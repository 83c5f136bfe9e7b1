"""LuxOS on an Antminer: bmminer's reports naming LUXminer, its own reads, guarded writes that
need a session and pool commands that take none (the session logic and LuxOS's own commands:
``backend/sim/luxos.py``)."""

from __future__ import annotations

from typing import Any

from backend.sim import luxos
from backend.sim.miner.dialects.antminer import AntminerApi
from backend.sim.miner.dialects.base import After, Report


class LuxosApi(AntminerApi):
    def own_reports(self) -> dict[str, Report]:
        return {**super().own_reports(), **luxos.reports(self.miner)}

    def own_command(self, command: str, param: str | None) -> tuple[dict[str, Any], After] | None:
        return luxos.handle(self.miner, command, param)

    def version(self) -> dict[str, Any]:
        return luxos.version(self.miner)

    def stats_head(self) -> dict[str, Any]:
        return luxos.stats_head(self.miner)

    def config_extra(self) -> dict[str, Any]:
        return luxos.config_extra(self.miner)

    def pool_extra(self) -> dict[str, Any]:
        return {"GROUP": 0}  # LuxOS pools belong to a pool group (``groups``)
