"""Families whose control path is not built yet: every action reported unsupported, with why.

Braiins OS takes writes through gRPC, Vnish through its own REST API; until their drivers exist
(part 2 of the control work), the console and the API must never offer these actions as working.
"""

from __future__ import annotations

from backend.fleet.drivers.base import ACTIONS, Capability, ControlContext, Driver, MinerTarget


class PendingDriver(Driver):
    """A family we identify but cannot control yet."""

    def __init__(self, context: ControlContext, name: str, label: str, why: str) -> None:
        super().__init__(context)
        self.name = name
        self.label = label
        self.why = why

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        reason = f"not supported yet for {self.label}: {self.why}"
        return dict.fromkeys(ACTIONS, Capability(False, reason))


class UnidentifiedDriver(Driver):
    """Before the first answer we do not know the firmware, so we send nothing."""

    name = "unidentified"
    label = "an unidentified firmware"

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        reason = "firmware not identified yet (the miner has not answered a poll)"
        return dict.fromkeys(ACTIONS, Capability(False, reason))
