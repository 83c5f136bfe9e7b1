"""Choosing a miner's driver from what its RPC told us (family and firmware strings)."""

from __future__ import annotations

from backend.fleet.drivers.antminer import AntminerWebDriver
from backend.fleet.drivers.base import ControlContext, Driver, MinerTarget
from backend.fleet.drivers.braiins import BraiinsDriver
from backend.fleet.drivers.cgminer import CgminerRpcDriver
from backend.fleet.drivers.luxos import LuxosDriver
from backend.fleet.drivers.pending import UnidentifiedDriver
from backend.fleet.drivers.vnish import VnishDriver
from backend.fleet.drivers.whatsminer import WhatsminerDriver
from backend.fleet.normalize import (
    FAMILY_ANTMINER,
    FAMILY_BRAIINS,
    FAMILY_CGMINER,
    FAMILY_WHATSMINER,
)

# Dialects: what we control a miner through (a family can run several firmwares).
DIALECT_CGMINER = "cgminer"
DIALECT_ANTMINER = "antminer"
DIALECT_LUXOS = "luxos"
DIALECT_VNISH = "vnish"
DIALECT_WHATSMINER = "whatsminer"
DIALECT_BRAIINS = "braiins"
DIALECT_UNKNOWN = "unknown"


def identify(family: str | None, firmware: str | None, model: str | None) -> str:
    """The control dialect from the poller's identification (``normalize.detect_*``)."""
    fw = (firmware or "").lower()
    text = f"{fw} {(model or '').lower()}"
    if fw.startswith("luxminer") or "luxos" in text:
        return DIALECT_LUXOS
    if "vnish" in text:
        return DIALECT_VNISH
    if family == FAMILY_BRAIINS or "bosminer" in fw or "boser" in fw:
        return DIALECT_BRAIINS
    if family == FAMILY_WHATSMINER or "btminer" in fw:
        return DIALECT_WHATSMINER
    if family == FAMILY_ANTMINER or fw.startswith("bmminer"):
        return DIALECT_ANTMINER
    if family == FAMILY_CGMINER or fw.startswith("cgminer"):
        return DIALECT_CGMINER
    return DIALECT_UNKNOWN


class DriverRegistry:
    """One driver instance per dialect, sharing the control context."""

    def __init__(self, context: ControlContext) -> None:
        self.context = context
        self.drivers: dict[str, Driver] = {
            DIALECT_CGMINER: CgminerRpcDriver(context),
            DIALECT_ANTMINER: AntminerWebDriver(context),
            DIALECT_LUXOS: LuxosDriver(context),
            DIALECT_VNISH: VnishDriver(context),
            DIALECT_WHATSMINER: WhatsminerDriver(context),
            DIALECT_BRAIINS: BraiinsDriver(context),
            DIALECT_UNKNOWN: UnidentifiedDriver(context),
        }

    def register(self, dialect: str, driver: Driver) -> None:
        """Part 2 slots the remaining drivers (Braiins, Vnish) in here."""
        self.drivers[dialect] = driver

    def driver_for(self, target: MinerTarget) -> Driver:
        return self.drivers[identify(target.family, target.firmware, target.model)]
