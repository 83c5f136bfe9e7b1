"""The CGMiner RPC API as every firmware of the family frames it, over one miner's state.

A request is ``command|param`` in plain text or ``{"command": ..., "parameter": ...}`` in
JSON; ``a+b`` joins read commands. ``CgminerFamilyApi`` parses, dispatches and encodes; a
firmware dialect (a subclass per module here) supplies its read commands as a table
(``own_reports``), its status heads and whatever it words differently, through small hooks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from backend.sim.miner import pools as pool_list
from backend.sim.miner.encoding import quirky_json, text_reply
from backend.sim.miner.physics import SHARE_DIFF
from backend.sim.miner.pools import Outcome

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner

Report = Callable[[], dict[str, Any]]
After = Callable[[], None] | None
Reply = tuple[bytes, After]

PRIVILEGED_COMMANDS = frozenset(
    {
        "restart",
        "switchpool",
        "enablepool",
        "disablepool",
        "removepool",
        "addpool",
        "ascset",
        "privileged",
    }
)


def wall_clock() -> int:
    """The ``When`` of a reply: the miner's wall clock, in seconds."""
    return int(time.time())


class CgminerFamilyApi:
    """One miner's CGMiner-family RPC: request in, the firmware's exact reply bytes out."""

    description = "cgminer 4.11.1"  # the Description of every STATUS head
    stats_quirk = False  # bmminer joins its first two STATS objects with ``}{``
    stale_key = "Pool Stale%"  # bmminer writes "Pool Stale%%"
    first_pool = 0  # the number of the first ``pools`` row

    def __init__(self, miner: SimMiner) -> None:
        self.miner = miner
        self.reports: dict[str, Report] = {
            "summary": self.summary,
            "pools": self.pools,
            "devs": self.devs,
            "edevs": self.devs,
            **self.own_reports(),
        }

    def own_reports(self) -> dict[str, Report]:
        """This firmware's read commands beyond summary, pools, devs and edevs."""
        return {}

    # ------------------------------------------------------------------ requests

    def respond(self, data: bytes, privileged: bool) -> Reply:
        text = data.decode("utf-8", "replace").strip("\x00 \r\n\t")
        as_json = text.startswith("{")
        param: str | None = None
        if as_json:
            try:
                request = json.loads(text)
            except ValueError:
                request = None
            if not isinstance(request, dict):
                self.miner.requests.append("<invalid json>")
                return self.encode(self.error(23, "Invalid JSON"), True), None
            answered = self.json_request(request)
            if answered is not None:
                return answered
            command = request.get("command", request.get("cmd"))
            if not isinstance(command, str):
                return self.encode(self.error(24, "Missing JSON 'command'"), True), None
            raw_param = request.get("parameter", request.get("param"))
            param = None if raw_param is None else str(raw_param)
        else:
            command, sep, rest = text.partition("|")
            param = rest if sep else None
        command = command.strip()
        self.miner.requests.append(command if param is None else f"{command}|{param}")
        if "+" in command:
            return self.joined(command, as_json), None
        handled = self.own_command(command, param)
        if handled is not None:
            return self.encode(handled[0], as_json), handled[1]
        report = self.reports.get(command)
        if report is not None:
            return self.encode(report(), as_json), None
        if command in PRIVILEGED_COMMANDS:
            denied = self.write_denied(command, privileged)
            if denied is not None:
                return self.encode(denied, as_json), None
            reply, after = self.write(command, param)
            return self.encode(reply, as_json), after
        return self.encode(self.invalid_command(), as_json), None

    def json_request(self, request: dict[str, Any]) -> Reply | None:
        """A JSON request this firmware answers outside the command table, else None."""
        return None

    def own_command(self, command: str, param: str | None) -> tuple[dict[str, Any], After] | None:
        """A command this firmware answers before the cgminer ones, else None."""
        return None

    def joined(self, command: str, as_json: bool) -> bytes:
        names = [c for c in dict.fromkeys(command.split("+")) if c]
        if self.join_refused(names):
            return self.encode(self.invalid_command(), as_json)
        parts: dict[str, dict[str, Any]] = {}
        for name in names:
            joinable = name in self.reports and not name.startswith("get_") and name != "status"
            parts[name] = self.reports[name]() if joinable else self.invalid_command()
        if not as_json:
            chunks = [f"CMD={name}|" + text_reply(reply) for name, reply in parts.items()]
            return "".join(chunks).encode() + b"\x00"
        joined: dict[str, Any] = {name: [reply] for name, reply in parts.items()}
        joined["id"] = 1
        return self.dumps(joined)

    def join_refused(self, names: list[str]) -> bool:
        """True when the whole joined request is refused (not just its unknown parts)."""
        return False

    # ------------------------------------------------------------------ encoding

    def encode(self, reply: Mapping[str, Any], as_json: bool) -> bytes:
        if as_json:
            return self.dumps(reply)
        return text_reply(reply).encode() + b"\x00"

    def dumps(self, reply: Mapping[str, Any]) -> bytes:
        if reply.get("STATUS") == "RESTART":
            return b'{"RESTART","id":1}\x00'  # cgminer's literal (invalid) JSON
        return quirky_json(reply, stats_quirk=self.stats_quirk).encode() + b"\x00"

    # ------------------------------------------------------------------ status heads

    def ok(self, code: int, msg: str) -> dict[str, Any]:
        return {
            "STATUS": "S",
            "When": wall_clock(),
            "Code": code,
            "Msg": msg,
            "Description": self.description,
        }

    def status(self, code: int, msg: str, severity: str = "S") -> dict[str, Any]:
        head = self.ok(code, msg)
        head["STATUS"] = severity
        return {"STATUS": [head], "id": 1}

    def error(self, code: int, msg: str) -> dict[str, Any]:
        return self.status(code, msg, "E")

    def outcome(self, result: Outcome) -> dict[str, Any]:
        if result.severity == "E":
            return self.error(result.code, result.msg)
        return self.status(result.code, result.msg, result.severity)

    def invalid_command(self) -> dict[str, Any]:
        # cgminer's Invalid command STATUS has no Description (see the 4.11.1 fixture)
        head = {"STATUS": "E", "When": wall_clock(), "Code": 14, "Msg": "Invalid command"}
        return {"STATUS": [head], "id": 1}

    # ------------------------------------------------------------------ reads

    def summary(self) -> dict[str, Any]:
        row = self.summary_row()
        return {"STATUS": [self.ok(11, "Summary")], "SUMMARY": [row], "id": 1}

    def summary_row(self) -> dict[str, Any]:
        m = self.miner
        acc, rej, stale, hw = m.totals()
        ths, avg = m.current_ths(), m.avg_ths()
        elapsed = int(m.uptime_s())
        rej_pct = round(100 * rej / (acc + rej), 4) if acc + rej else 0.0
        return {
            "Elapsed": elapsed,
            "MHS av": round(avg * 1e6, 2),
            "MHS 5s": round(ths * 1e6, 2),
            "MHS 1m": round(avg * 1e6 * m.rng.uniform(0.99, 1.01), 2),
            "MHS 5m": round(avg * 1e6 * m.rng.uniform(0.995, 1.005), 2),
            "MHS 15m": round(avg * 1e6, 2),
            "Found Blocks": 0,
            "Getworks": elapsed // 13,
            "Accepted": acc,
            "Rejected": rej,
            "Hardware Errors": hw,
            "Utility": round(acc / max(elapsed, 1) * 60, 2),
            "Discarded": elapsed * 60,
            "Stale": stale,
            "Get Failures": 0,
            "Local Work": elapsed * 7800,
            "Remote Failures": 0,
            "Network Blocks": elapsed // 600,
            "Total MH": round(avg * 1e6 * elapsed, 1),
            "Work Utility": round(avg * 1e12 / 2**32 * 60 / 1000, 2),
            "Difficulty Accepted": float(acc * SHARE_DIFF),
            "Difficulty Rejected": float(rej * SHARE_DIFF),
            "Difficulty Stale": 0.0,
            "Best Share": 41127493,
            "Device Hardware%": 0.011,
            "Device Rejected%": rej_pct,
            "Pool Rejected%": rej_pct,
            "Pool Stale%": 0.0,
            "Last getwork": wall_clock(),
        }

    def config(self) -> dict[str, Any]:
        m = self.miner
        row = {
            "ASC Count": m.profile.boards,
            "PGA Count": 0,
            "Pool Count": len(m.pools),
            "Strategy": "Failover",
            "Log Interval": 5,
            "Device Code": "ICA ",
            "OS": "Linux",
            "Hotplug": 5,
            **self.config_extra(),
        }
        return {"STATUS": [self.ok(33, "CGMiner config")], "CONFIG": [row], "id": 1}

    def config_extra(self) -> dict[str, Any]:
        return {}

    dev_name = ""  # each ``devs`` row's Name

    def devs(self) -> dict[str, Any]:
        """One row per hash board."""
        m = self.miner
        acc, rej, _, hw = m.totals()
        elapsed = int(m.uptime_s())
        enabled = "N" if m.sleeping else "Y"
        rows = []
        boards = m.profile.boards
        fans = m.fan_speeds()
        for b in range(boards):
            ths = m.board_ths(b)
            board_c, chip_c = m.board_temps(b)
            dev: dict[str, Any] = {
                "ASC": b,
                "Name": self.dev_name,
                "ID": b,
                "Enabled": enabled,
                "Status": "Alive" if m.chips_ok(b) else "Dead",
                "MHS av": round(m.board_ths(b, jitter=False) * m._avg_bias * 1e6, 2),
                "MHS 5s": round(ths * 1e6, 2),
                "MHS 1m": round(ths * 1e6 * m.rng.uniform(0.99, 1.01), 2),
                "MHS 5m": round(ths * 1e6, 2),
                "MHS 15m": round(ths * 1e6, 2),
                "Accepted": acc // boards,
                "Rejected": rej // boards,
                "Hardware Errors": hw // boards,
                "Last Share Pool": 0,
                "Last Share Time": wall_clock() - m.rng.randint(0, 20),
                "Device Elapsed": elapsed,
                **self.dev_extra(b, board_c, chip_c, fans),
            }
            rows.append(dev)
        return {"STATUS": [self.ok(9, f"{boards} ASC(s)")], "DEVS": rows, "id": 1}

    def dev_extra(
        self, board: int, board_c: float, chip_c: float, fans: list[int]
    ) -> dict[str, Any]:
        """Fields this firmware adds to a board's ``devs`` row."""
        return {}

    def pools(self) -> dict[str, Any]:
        m = self.miner
        active = m.active_pool()
        now_sim = m.clock()
        rows = []
        for i, pool in enumerate(m.pools):
            is_active = pool is active
            status = "Disabled" if not pool.enabled else ("Dead" if pool.dead else "Alive")
            age = None if pool.last_share is None else max(0, int(now_sim - pool.last_share))
            row: dict[str, Any] = {
                "POOL": i + self.first_pool,
                "URL": pool.url,
                "Status": status,
                "Priority": pool.priority,
                "Quota": 1,
                "Long Poll": "N",
                "Getworks": int(pool.accepted * 0.97) + 3,
                "Accepted": int(pool.accepted),
                "Rejected": int(pool.rejected),
                "Discarded": int(pool.accepted * 1116),
                "Stale": int(pool.stale),
                "Get Failures": 0,
                "Remote Failures": 0,
                "User": pool.user,
                **self.last_share(age, is_active),
                "Diff1 Shares": 0,
                "Proxy Type": "",
                "Proxy": "",
                "Difficulty Accepted": float(int(pool.accepted) * SHARE_DIFF),
                "Difficulty Rejected": float(int(pool.rejected) * SHARE_DIFF),
                "Difficulty Stale": 0.0,
                "Last Share Difficulty": float(SHARE_DIFF) if is_active else 0.0,
                "Has Stratum": True,
                "Stratum Active": is_active,
                "Stratum URL": pool.url.split("://")[-1].rsplit(":", 1)[0] if is_active else "",
                "Has GBT": False,
                "Best Share": 12904207043.0 if is_active else 0.0,
                "Pool Rejected%": 0.0,
                self.stale_key: 0.0,
                **self.pool_extra(),
            }
            rows.append(row)
        msg = f"{len(rows)} Pool(s)"
        return {"STATUS": [self.ok(7, msg)], "POOLS": rows, "id": 1}

    def last_share(self, age: int | None, is_active: bool) -> dict[str, Any]:
        """A ``pools`` row's Last Share Time (seconds ``age`` ago) as this firmware words it."""
        return {"Last Share Time": 0 if age is None else wall_clock() - age}

    def pool_extra(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ writes

    def write_denied(self, command: str, privileged: bool) -> dict[str, Any] | None:
        """The refusal of a write command from this client, or None to carry it out."""
        if privileged:
            return None
        return self.error(45, f"Access denied to '{command}' command")

    def write(self, command: str, param: str | None) -> tuple[dict[str, Any], After]:
        """Carry out a privileged command: the reply, and what to do once it is sent."""
        m = self.miner
        if command == "privileged":
            return self.status(46, "Privileged access OK"), None
        if command == "restart":
            return {"STATUS": "RESTART"}, lambda: m._spawn(m._restart())
        if command == "addpool":
            return self.outcome(pool_list.add_pool(m.pools, param)), None
        if command == "ascset":
            return self.ascset(param), None
        if command in pool_list.POOL_ID_COMMANDS:
            index = pool_list.pool_id(m.pools, param)
            if isinstance(index, Outcome):
                return self.outcome(index), None
            return self.outcome(pool_list.pool_command(m.pools, command, index)), None
        return self.invalid_command(), None

    def ascset(self, param: str | None) -> dict[str, Any]:
        """``ascset|N,sleep`` / ``ascset|N,wake``: hashing off and on."""
        device, _, option = (param or "").partition(",")
        option = option.split(",")[0].strip().lower()
        if option in ("sleep", "wake"):
            self.miner.sleeping = option == "sleep"
            return self.status(119, f"ASC {device or 0} set OK")
        return self.error(120, f"ASC {device or 0} set failed: unknown option '{option}'")
