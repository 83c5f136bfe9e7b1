"""Vnish on an Antminer: bmminer's RPC with the firmware named in STATS' ``Type`` (the
profile's model); it answers no ``version``. Its control is the web API
(``backend/sim/vnish_web.py``)."""

from __future__ import annotations

from typing import Any

from backend.sim.miner.dialects.antminer import AntminerApi


class VnishApi(AntminerApi):
    def version(self) -> dict[str, Any]:
        return self.invalid_command()
