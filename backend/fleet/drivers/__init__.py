"""Control drivers per firmware family, behind the one command path (``fleet/commands.py``)."""

from backend.fleet.drivers.base import (
    ACTIONS,
    COMMON_WORK_MODES,
    Capability,
    ControlContext,
    Driver,
    MinerTarget,
    Outcome,
)
from backend.fleet.drivers.registry import DriverRegistry, identify

__all__ = [
    "ACTIONS",
    "COMMON_WORK_MODES",
    "Capability",
    "ControlContext",
    "Driver",
    "DriverRegistry",
    "MinerTarget",
    "Outcome",
    "identify",
]
