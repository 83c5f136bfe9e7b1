"""Stock Antminer bmminer (S19 Pro): one ``BTM_SOC`` device, the ``}{`` STATS quirk, the
``Tenperature`` and ``Pool Stale%%`` spellings and GH/s rates, as the captured fixture shows."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from backend.sim.miner.dialects.base import CgminerFamilyApi, Report, wall_clock
from backend.sim.miner.physics import SHARE_DIFF, MinerState


class AntminerApi(CgminerFamilyApi):
    description = "cgminer 1.0.0"
    stats_quirk = True
    stale_key = "Pool Stale%%"

    def own_reports(self) -> dict[str, Report]:
        return {
            "version": self.version,
            "stats": self.stats,
            "estats": self.stats,
            "config": self.config,
        }

    def version(self) -> dict[str, Any]:
        row = {
            "BMMiner": "1.0.0",
            "API": "3.1",
            "Miner": "49.0.1.3",
            "CompileTime": "Tue Dec  6 16:12:30 CST 2022",
            "Type": self.miner.profile.model,
        }
        return {"STATUS": [self.ok(22, "CGMiner versions")], "VERSION": [row], "id": 1}

    def summary_row(self) -> dict[str, Any]:
        m = self.miner
        acc, rej, stale, hw = m.totals()
        ths, avg = m.current_ths(), m.avg_ths()
        elapsed = int(m.uptime_s())
        rej_pct = round(100 * rej / (acc + rej), 4) if acc + rej else 0.0
        return {
            "Elapsed": elapsed,
            "GHS 5s": round(ths * 1000, 2),
            "GHS av": round(avg * 1000, 2),
            "GHS 30m": round(avg * 1000 * 1.0004, 2),
            "Found Blocks": 0,
            "Getwork": elapsed // 13,
            "Accepted": acc,
            "Rejected": rej,
            "Hardware Errors": hw,
            "Utility": round(acc / max(elapsed, 1) * 60, 2),
            "Discarded": elapsed * 89,
            "Stale": stale,
            "Get Failures": 1,
            "Local Work": elapsed * 90,
            "Remote Failures": 0,
            "Network Blocks": elapsed // 600,
            "Total MH": round(avg * 1e6 * elapsed, 1),
            "Work Utility": round(avg * 1e12 / 2**32 * 60 / 1000, 2),
            "Difficulty Accepted": float(acc * SHARE_DIFF),
            "Difficulty Rejected": float(rej * SHARE_DIFF),
            "Difficulty Stale": 0.0,
            "Best Share": 12904207043,
            "Device Hardware%": 0.0,
            "Device Rejected%": rej_pct,
            "Pool Rejected%": rej_pct,
            "Pool Stale%": 0.0,
            "Last getwork": wall_clock(),
        }

    def devs(self) -> dict[str, Any]:
        """bmminer reports the whole machine as one device, its rates all zero."""
        m = self.miner
        acc, rej, _, _ = m.totals()
        row = {
            "ASC": 0,
            "Name": "BTM_SOC",
            "ID": 0,
            "Enabled": "N" if m.sleeping else "Y",
            "Status": "Alive",
            "Tenperature": 0.0,
            "MHS av": 0.0,
            "MHS 5s": 0.0,
            "Accepted": acc,
            "Rejected": rej,
            "Hardware Errors": 0,
            "Utility": 0.0,
            "Last Share Pool": 0,
            "Last Share Time": wall_clock(),
            "Total MH": 0.0,
            "Diff1 Work": 0,
            "Difficulty Accepted": float(acc * SHARE_DIFF),
            "Difficulty Rejected": float(rej * SHARE_DIFF),
            "Last Share Difficulty": wall_clock(),
            "Last Valid Work": wall_clock(),
            "Device Hardware%": 0.0,
            "Device Rejected%": 0.0,
            "Device Elapsed": int(m.uptime_s()),
        }
        return {"STATUS": [self.ok(9, "1 ASC(s)")], "DEVS": [row], "id": 1}

    def last_share(self, age: int | None, is_active: bool) -> dict[str, Any]:
        clock = "0" if age is None else f"{age // 3600}:{age // 60 % 60:02d}:{age % 60:02d}"
        return {"Last Share Time": clock, "Diff": "524K" if is_active else ""}

    def stats(self) -> dict[str, Any]:
        rows = [self.stats_head(), self.stats_row(int(self.miner.uptime_s()))]
        return {"STATUS": [self.ok(70, "CGMiner stats")], "STATS": rows, "id": 1}

    def stats_head(self) -> dict[str, Any]:
        """STATS[0]: which miner program this is."""
        return {
            "BMMiner": "1.0.0",
            "Miner": "49.0.1.3",
            "CompileTime": "Tue Dec  6 16:12:30 CST 2022",
            "Type": self.miner.profile.model,
        }

    def stats_row(self, elapsed: int) -> dict[str, Any]:
        """STATS[1]: fans, per-chain temperatures, chips, rates and frequencies."""
        m = self.miner
        p = m.profile
        fans = m.fan_speeds()
        avg_gh = round(m.avg_ths() * 1000, 2)
        row: dict[str, Any] = {
            "STATS": 0,
            "ID": "BTM_SOC0",
            "Elapsed": elapsed,
            "Calls": 0,
            "Wait": 0,
            "Max": 0,
            "Min": 99999999,
            "GHS 5s": round(m.current_ths() * 1000, 2),
            "GHS av": avg_gh,
            "rate_30m": round(avg_gh * 1.0004, 2),
            "Mode": 2,
            "miner_count": p.boards,
            "frequency": m.freq_mhz,
            "fan_num": p.fans,
        }
        row.update({f"fan{i + 1}": rpm for i, rpm in enumerate(fans)})
        hw = int(m._hw_errors)
        row["temp_num"] = p.boards
        slots = range(1, p.boards + 2)  # S19 controllers report a 4th, empty chain slot
        temps = [m.board_temps(b) for b in range(p.boards)]
        for b, (board_c, chip_c) in enumerate(temps, start=1):
            row[f"temp{b}"] = int(board_c)
            row[f"temp2_{b}"] = int(chip_c)
        for b in slots:
            if b <= p.boards:
                pcb, chip, pic = m.board_sensors(*temps[b - 1])
                row[f"temp_pcb{b}"] = "-".join(map(str, pcb))
                row[f"temp_chip{b}"] = "-".join(map(str, chip))
                row[f"temp_pic{b}"] = "-".join(map(str, pic))
            else:
                for key in ("temp_pcb", "temp_chip", "temp_pic"):
                    row[f"{key}{b}"] = "0-0-0-0"
        row.update(
            {
                "total_rateideal": round(p.nominal_ths * m.hash_scale * 1000, 1),
                "rate_unit": "GH",
                "total_freqavg": m.freq_mhz,
                "total_acn": sum(p.chips_per_board for _ in range(p.boards)),
                "total rate": avg_gh,
                "temp_max": 0,
                "no_matching_work": hw,
            }
        )
        rates = [m.board_ths(b) for b in range(p.boards)]
        for b in slots:
            row[f"chain_acn{b}"] = p.chips_per_board if b <= p.boards else 0
        for b in slots:
            row[f"chain_acs{b}"] = chain_acs(m, b - 1) if b <= p.boards else ""
        for b in slots:
            row[f"chain_hw{b}"] = hw // p.boards if b <= p.boards else 0
        for b in slots:
            row[f"chain_rate{b}"] = f"{rates[b - 1] * 1000:.2f}" if b <= p.boards else ""
        for b in slots:
            row[f"freq{b}"] = m.freq_mhz if b <= p.boards else 0
        row.update({"miner_version": "49.0.1.3", "miner_id": f"{0x8144D5CA79100000 + m.index:x}"})
        return row


def chain_acs(miner: MinerState, board: int) -> str:
    """A board's ``chain_acsN`` (the web CGI shows the same marks)."""
    return _chain_acs_text(miner.profile.chips_per_board, miner.chips_ok(board))


@lru_cache(maxsize=256)
def _chain_acs_text(chips: int, ok: int) -> str:
    """Antminer's ``chain_acsN``: one mark per chip (o ok, x failed) in groups of three."""
    marks = "o" * ok + "x" * (chips - ok)
    return "".join(" " + marks[i : i + 3] for i in range(0, chips, 3))
