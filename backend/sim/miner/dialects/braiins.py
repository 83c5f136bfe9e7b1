"""Braiins OS (BOSer) through its cgminer-compatible API: ``fans``, ``temps``, ``tempctrl``,
``devdetails`` and ``tunerstatus`` shaped after Braiins' published cgminer-API structures.
Its control goes through the gRPC API (``backend/sim/braiins_grpc.py``)."""

from __future__ import annotations

from typing import Any

from backend.sim.miner.dialects.base import CgminerFamilyApi, Report
from backend.sim.miner.faults import Fault

BOSER = "boser-buildroot 0.1.0-0ce150e9"


class BraiinsApi(CgminerFamilyApi):
    description = f"BOSer {BOSER}"

    def own_reports(self) -> dict[str, Report]:
        return {
            "version": self.version,
            "stats": self.stats,
            "estats": self.stats,
            "config": self.config,
            "devdetails": self.devdetails,
            "fans": self.fans,
            "temps": self.temps,
            "tempctrl": self.tempctrl,
            "tunerstatus": self.tunerstatus,
        }

    def version(self) -> dict[str, Any]:
        row = {"API": "3.7", "BOSer": BOSER}
        return {"STATUS": [self.ok(22, "BOSer versions")], "VERSION": [row], "id": 1}

    def stats(self) -> dict[str, Any]:
        elapsed = int(self.miner.uptime_s())
        rows = [{"STATS": 0, "ID": "BOS0", "Elapsed": elapsed, "Calls": 0, "Wait": 0.0}]
        return {"STATUS": [self.ok(70, "CGMiner stats")], "STATS": rows, "id": 1}

    def devdetails(self) -> dict[str, Any]:
        m = self.miner
        rows = [
            {
                "DEVDETAILS": b,
                "Name": "",
                "ID": b,
                "Driver": "",
                "Kernel": "",
                "Model": m.profile.model or "",
                "Device Path": "",
                "Voltage": 13.6,
                "Frequency": m.profile.frequency,
                "Chips": m.chips_ok(b),
                "Cores": m.chips_ok(b) * 8,
            }
            for b in range(m.profile.boards)
        ]
        return {"STATUS": [self.ok(69, "Device Details")], "DEVDETAILS": rows, "id": 1}

    def fans(self) -> dict[str, Any]:
        m = self.miner
        speed = 100 if Fault.OVERHEAT in m.faults else 42
        rows = [
            {"FAN": i, "ID": i, "RPM": rpm, "Speed": speed} for i, rpm in enumerate(m.fan_speeds())
        ]
        return {"STATUS": [self.ok(202, f"{len(rows)} Fan(s)")], "FANS": rows, "id": 1}

    def temps(self) -> dict[str, Any]:
        rows = []
        for b in range(self.miner.profile.boards):
            board_c, chip_c = self.miner.board_temps(b)
            rows.append({"TEMP": b, "ID": b, "Board": board_c, "Chip": chip_c})
        return {"STATUS": [self.ok(201, f"{len(rows)} Temp(s)")], "TEMPS": rows, "id": 1}

    def tempctrl(self) -> dict[str, Any]:
        row = {"Mode": "Automatic", "Target": 75.0, "Hot": 90.0, "Dangerous": 100.0}
        return {"STATUS": [self.ok(200, "Temperature control")], "TEMPCTRL": [row], "id": 1}

    def tunerstatus(self) -> dict[str, Any]:
        m = self.miner
        row = {
            "PowerLimit": int(m.profile.power_w + 50),
            "ApproximateMinerPowerConsumption": m.power_w(),
            "DynamicPowerScaling": "Disabled",
        }
        return {"STATUS": [self.ok(203, "Tuner Status")], "TUNERSTATUS": [row], "id": 1}
