"""Whatsminer btminer API v1.4: sorted keys and no NUL terminator, a bare-string STATUS
(with an object ``Msg`` for ``get_*``), per-board temperatures and fans in ``summary``/``devs``,
no ``stats``/``version``/``config``, no joins of ``get_*``/``status``, and every cgminer write
refused. Its encrypted admin API v2 shares the port (``backend/sim/whatsminer_api.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.sim import whatsminer_api
from backend.sim.miner.dialects.base import CgminerFamilyApi, Reply, Report, wall_clock

WHATSMINER_DESC = "whatsminer v1.4.0"
WHATSMINER_FW = "20210322.22.REL"


class WhatsminerApi(CgminerFamilyApi):
    description = "cgminer 4.9.2"
    first_pool = 1
    dev_name = "SM"

    def own_reports(self) -> dict[str, Report]:
        return {
            "devdetails": self.devdetails,
            "get_version": self.get_version,
            "get_psu": self.get_psu,
            "status": self.btminer_status,
        }

    def json_request(self, request: dict[str, Any]) -> Reply | None:
        return whatsminer_api.handle_v2(self.miner, request)

    def join_refused(self, names: list[str]) -> bool:
        return any(c.startswith("get_") or c == "status" for c in names)

    def write_denied(self, command: str, privileged: bool) -> dict[str, Any]:
        return self.error(45, "permission denied")

    def dumps(self, reply: Mapping[str, Any]) -> bytes:
        return json.dumps(reply, sort_keys=True, separators=(",", ":")).encode()

    def ok(self, code: int, msg: str) -> dict[str, Any]:
        return {
            "Code": code,
            "Description": self.description,
            "Msg": msg,
            "STATUS": "S",
            "When": wall_clock(),
        }

    def error(self, code: int, msg: str) -> dict[str, Any]:
        return {
            "STATUS": "E",
            "When": wall_clock(),
            "Code": code,
            "Msg": msg,
            "Description": WHATSMINER_DESC,
        }

    def invalid_command(self) -> dict[str, Any]:
        return self.error(14, "invalid cmd")

    def summary_row(self) -> dict[str, Any]:
        m = self.miner
        row = super().summary_row()
        temps = [m.board_temps(b) for b in range(m.profile.boards)]
        chips = [c for _, c in temps]
        fans = m.fan_speeds()
        power = m.power_w()
        row.update(
            {
                "Temperature": max(t for t, _ in temps),
                "Chip Temp Min": round(min(chips) - 12, 2),
                "Chip Temp Avg": round(sum(chips) / len(chips) - 6, 2),
                "Chip Temp Max": max(chips),
                "Fan Speed In": fans[0],
                "Fan Speed Out": fans[1],
                "Power": power,
                "Power_RT": power + m.rng.randint(0, 15),
                "Power Limit": 3500,
                "Power Mode": m.wm.power_mode if m.wm is not None else "Normal",
                "Power Current": round(power / 13.1),
                "Power Fanspeed": 9060,
                "Factory GHS": int(m.profile.nominal_ths * 1000),
                "Target MHS": int(m.profile.nominal_ths * 1e6 * 0.95),
                "Target Freq": 625,
                "freq_avg": m.profile.frequency,
                "Firmware Version": f"'{WHATSMINER_FW}'",
                "Uptime": row["Elapsed"] + 638,
                "MAC": m._mac(),
                "CB Platform": "ALLWINNER_H3",
                "CB Version": "V8",
                "Chip Data": "HP5A01-19101436   BINV04-192101D",
                "Error Code Count": 0,
                "Factory Error Code Count": 0,
                "HS RT": row["MHS 5m"],
                "Hash Deviation%": 0.1061,
                "Hash Stable": True,
                "Hash Stable Cost Seconds": 1538,
                "Liquid Cooling": False,
                "Security Mode": 0,
                "Voltage": 1180,
            }
        )
        return row

    def dev_extra(
        self, board: int, board_c: float, chip_c: float, fans: list[int]
    ) -> dict[str, Any]:
        m = self.miner
        return {
            "Slot": board,
            "Temperature": board_c,
            "Chip Temp Max": chip_c,
            "Chip Temp Avg": round(chip_c - 6.5, 2),
            "Chip Temp Min": round(chip_c - 19, 2),
            "Chip Frequency": m.profile.frequency,
            "Effective Chips": m.chips_ok(board),
            "Fan Speed In": fans[0],
            "Fan Speed Out": fans[1],
            "PCB SN": f"H5M14S69129A17K{10000 + m.index * 3 + board}",
            "Upfreq Complete": 1,
        }

    def devdetails(self) -> dict[str, Any]:
        rows = [
            {
                "DEVDETAILS": b,
                "Name": "SM",
                "ID": b,
                "Driver": "bitmicro",
                "Kernel": "",
                "Model": self.miner.profile.model or "",
                "Device Path": "",
            }
            for b in range(self.miner.profile.boards)
        ]
        return {"STATUS": [self.ok(69, "Device Details")], "DEVDETAILS": rows, "id": 1}

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """btminer's ``get_*`` answer: a bare STATUS with the payload as ``Msg``."""
        return {
            "Code": 131,
            "Description": WHATSMINER_DESC,
            "Msg": msg,
            "STATUS": "S",
            "When": wall_clock(),
        }

    def get_version(self) -> dict[str, Any]:
        return self.message({"api_ver": WHATSMINER_DESC, "fw_ver": WHATSMINER_FW})

    def get_psu(self) -> dict[str, Any]:
        psu = {
            "hw_version": "",
            "model": "P21-12-3600-E",
            "name": "P21",
            "sw_version": "102220.009",
        }
        return self.message(psu)

    def btminer_status(self) -> dict[str, Any]:
        state = "true" if self.miner.sleeping else "false"
        return self.message({"Firmware Version": f"'{WHATSMINER_FW}'", "btmineroff": state})
