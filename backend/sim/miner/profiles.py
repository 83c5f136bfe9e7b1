"""The simulated models: what each firmware family runs on and reports about itself."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("antminer", "whatsminer", "braiins", "cgminer")
DIALECTS = (*FAMILIES, "luxos", "vnish")  # Antminer family miners with their own control


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """Static characteristics of a simulated model."""

    family: str
    model: str | None  # what the firmware reports (upstream cgminer reports none)
    boards: int
    chips_per_board: int
    nominal_ths: float
    power_w: float
    fans: int
    fan_rpm: int
    board_c: float
    chip_c: float
    frequency: int


PROFILES: dict[str, ModelProfile] = {
    "antminer": ModelProfile(
        "antminer", "Antminer S19 Pro", 3, 114, 110.0, 3250, 4, 5600, 64, 70, 525
    ),
    "whatsminer": ModelProfile("whatsminer", "M31SV10", 3, 105, 68.8, 3420, 2, 6450, 70, 84, 650),
    "braiins": ModelProfile(
        "braiins", "Antminer S19j Pro", 3, 126, 100.0, 3050, 4, 4200, 60, 68, 500
    ),
    "cgminer": ModelProfile("cgminer", None, 3, 63, 13.5, 1320, 2, 4800, 62, 75, 650),
    # LuxOS runs on Antminer hardware and reports like bmminer: family antminer, own writes.
    "luxos": ModelProfile(
        "antminer", "Antminer S19j Pro", 3, 126, 104.0, 3068, 4, 4300, 60, 68, 500
    ),
    # Vnish: bmminer's RPC naming the firmware in Type; control through its web API.
    "vnish": ModelProfile(
        "antminer", "Antminer S19j Pro (Vnish 1.2.6)", 3, 126, 100.0, 3050, 4, 4400, 60, 68, 500
    ),
}
