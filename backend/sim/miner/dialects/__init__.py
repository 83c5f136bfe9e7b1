"""The CGMiner-family RPC dialects, one class per firmware, by the name the fleet uses."""

from __future__ import annotations

from backend.sim.miner.dialects.antminer import AntminerApi
from backend.sim.miner.dialects.base import CgminerFamilyApi
from backend.sim.miner.dialects.braiins import BraiinsApi
from backend.sim.miner.dialects.cgminer import CgminerApi
from backend.sim.miner.dialects.luxos import LuxosApi
from backend.sim.miner.dialects.vnish import VnishApi
from backend.sim.miner.dialects.whatsminer import WhatsminerApi

DIALECT_APIS: dict[str, type[CgminerFamilyApi]] = {
    "antminer": AntminerApi,
    "whatsminer": WhatsminerApi,
    "braiins": BraiinsApi,
    "cgminer": CgminerApi,
    "luxos": LuxosApi,
    "vnish": VnishApi,
}

__all__ = ["DIALECT_APIS", "CgminerFamilyApi"]
