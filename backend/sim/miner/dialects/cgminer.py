"""Upstream cgminer 4.11.1 (an Antminer S3's ``ants3`` driver): no model anywhere, a
``Temperature`` per device and seven-key ``devdetails`` rows, as the captured fixture shows."""

from __future__ import annotations

from typing import Any

from backend.sim.miner.dialects.base import CgminerFamilyApi, Report


class CgminerApi(CgminerFamilyApi):
    description = "cgminer 4.11.1"
    dev_name = "ANT"

    def own_reports(self) -> dict[str, Report]:
        return {
            "version": self.version,
            "stats": self.stats,
            "estats": self.stats,
            "config": self.config,
            "devdetails": self.devdetails,
        }

    def version(self) -> dict[str, Any]:
        row = {"CGMiner": "4.11.1", "API": "3.7"}
        return {"STATUS": [self.ok(22, "CGMiner versions")], "VERSION": [row], "id": 1}

    def stats(self) -> dict[str, Any]:
        head = {"STATS": 0, "ID": "POOL0", "Elapsed": int(self.miner.uptime_s()), "Calls": 0}
        head.update({"Wait": 0.0, "Max": 0.0, "Min": 99999999.0})
        head.update({"Pool Calls": 0, "Pool Attempts": 0})
        return {"STATUS": [self.ok(70, "CGMiner stats")], "STATS": [head], "id": 1}

    def dev_extra(
        self, board: int, board_c: float, chip_c: float, fans: list[int]
    ) -> dict[str, Any]:
        return {"Temperature": board_c}

    def devdetails(self) -> dict[str, Any]:
        """One row per device, these seven keys."""
        rows = [
            {
                "DEVDETAILS": b,
                "Name": "ANT",
                "ID": b,
                "Driver": "ants3",
                "Kernel": "",
                "Model": "",
                "Device Path": "",
            }
            for b in range(self.miner.profile.boards)
        ]
        return {"STATUS": [self.ok(69, "Device Details")], "DEVDETAILS": rows, "id": 1}
