"""The Vnish web API of one simulated miner: ``/api/v1`` with an unlock token, on port 80.

Shapes follow Vnish's published OpenAPI document (xminer-api, firmware 1.2.6) and what pyasic
reads from it: ``POST /unlock {"pw"}`` answers ``{"token"}`` (403 for a wrong password), and
the token goes back as ``Authorization: Bearer <token>`` (pyasic sends it bare, which Vnish
accepts too). Served: ``info``, ``status``, ``summary``, ``perf-summary``, ``autotune/presets``,
``settings`` (GET, and POST merging ``miner.pools`` - exactly three slots - and
``miner.overclock.preset``), ``mining/stop|start|pause|resume|restart``, ``system/reboot``,
``find-miner`` (toggles the locate LED, answers ``{"on"}``) and ``/`` (the AnthillOS UI page
that pyasic's and asic-rs' discovery look for).

Saved pools and presets take effect when the miner software restarts: the POST answers
``restart_required: true`` and ``mining/restart`` applies them, as the firmware's
``SaveConfigResult`` describes. ``system/reboot`` takes the whole miner down for the fleet's
restart downtime (web API included); ``mining/stop`` leaves both APIs up with no hashrate.

``fault`` switches misbehaviour on for tests: ``hang`` (accepts, never answers),
``reboot_hang`` (only the reboot is never answered), ``html`` (a
different web server: HTML 404s), ``refuse`` (the firmware rejects every change with 500
``{"err"}``). ``token_ttl_s`` is how long a token stays valid.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from backend.sim.antminer_web import apply_pools
from backend.sim.http_server import SimRequest, SimResponse
from backend.sim.side_server import Answer, HttpSideServer

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner

FW_VERSION = "1.2.6"
POOL_SLOTS = 3
MAX_TOKENS = 64
REBOOT_AFTER_S = 3
UI_PAGE = (
    b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>AnthillOS</title></head>'
    b'<body><div id="app"></div></body></html>'
)
# (name, pretty, tuned): what ``autotune/presets`` lists for an S19j Pro
PRESETS = (
    ("disabled", "Disabled", False),
    ("2100", "2100 watt ~ 78 TH", True),
    ("2500", "2500 watt ~ 88 TH", True),
    ("2900", "2900 watt ~ 96 TH", True),
    ("3250", "3250 watt ~ 104 TH", False),
    ("3600", "3600 watt ~ 110 TH", False),
)
Reply = tuple[int, bytes, str]


class VnishWebServer(HttpSideServer):
    """One Vnish miner's web API on its own address (real miners: port 80)."""

    what = "Vnish web API"
    server = "xminer-api"

    def __init__(self, miner: SimMiner, host: str, port: int, *, password: str = "admin") -> None:
        super().__init__(miner, host, port)
        self.password = password
        self.token_ttl_s = 900.0
        self.requests: list[str] = []  # "POST /api/v1/mining/stop" ..., bounded below
        self.unauthorized = 0  # 403s on unlock plus 401s on a missing or stale token
        self.preset = "disabled"  # saved in the settings
        self.running_preset = "disabled"  # applied by the last mining restart
        self.restart_required = False
        self._pending_pools: list[tuple[str, str, str]] | None = None
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._state_since = time.monotonic()

    # ------------------------------------------------------------------ HTTP

    def hangs(self, request: SimRequest) -> bool:
        """``reboot_hang``: everything answers but the reboot, which a hung miner takes silently."""
        reboot = request.method == "POST" and request.path == "/api/v1/system/reboot"
        return super().hangs(request) or (self.fault == "reboot_hang" and reboot)

    def answer(self, request: SimRequest) -> Answer:
        method, path = request.method, request.path
        if len(self.requests) < 1000:
            self.requests.append(f"{method} {path}")
        status, payload, kind = self._route(method, path, request.headers, request.body)
        rebooting = method == "POST" and path == "/api/v1/system/reboot" and status == 200
        return SimResponse(status, payload, kind), self._go_dark if rebooting else None

    def _go_dark(self) -> None:
        """After the reboot's answer went out: the whole miner restarts."""
        self.miner._spawn(self.miner._restart())

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if self.fault == "html":
            return 404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html"
        path = path.split("?", 1)[0]
        if path in ("/", "/index.html") and method == "GET":
            return 200, UI_PAGE, "text/html"
        if not path.startswith("/api/v1/"):
            return 404, b"<html><body>Not Found</body></html>", "text/html"
        name = path.removeprefix("/api/v1/")
        open_routes = {
            ("POST", "unlock"): self._unlock,
            ("GET", "info"): self._info,
            ("GET", "status"): self._status,
            ("GET", "summary"): self._summary,
            ("GET", "perf-summary"): self._perf_summary,
            ("POST", "find-miner"): self._find_miner,
        }
        locked_routes = {
            ("GET", "settings"): self._settings,
            ("POST", "settings"): self._save_settings,
            ("GET", "autotune/presets"): self._presets,
            ("POST", "mining/stop"): self._stop,
            ("POST", "mining/pause"): self._stop,
            ("POST", "mining/start"): self._start,
            ("POST", "mining/resume"): self._start,
            ("POST", "mining/restart"): self._mining_restart,
            ("POST", "system/reboot"): self._reboot,
        }
        handler = open_routes.get((method, name))
        if handler is None:
            handler = locked_routes.get((method, name))
            if handler is None:
                known = {n for _, n in (*open_routes, *locked_routes)}
                return (405 if name in known else 404), b"", "text/plain"
            if not self._unlocked(headers):
                self.unauthorized += 1
                return 401, b"", "text/plain"
        self.miner.tick()
        status, reply = handler(body, headers)
        if reply is None:
            return status, b"", "text/plain"  # Vnish answers most writes with an empty 200
        return status, json.dumps(reply, separators=(",", ":")).encode(), "application/json"

    # ------------------------------------------------------------------ auth

    def _unlock(self, body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        try:
            pw = json.loads(body or b"null")["pw"]
        except (ValueError, KeyError, TypeError):
            return 400, {"err": "Json deserialize error: missing field `pw`"}
        if not isinstance(pw, str) or not secrets.compare_digest(
            pw.encode(), self.password.encode()
        ):
            self.unauthorized += 1
            return 403, {"unlock_timeout": None}
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        while len(self._tokens) >= MAX_TOKENS:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[token] = now + self.token_ttl_s
        return 200, {"token": token}

    def _unlocked(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        expires = self._tokens.get(value) if value else None
        return expires is not None and expires > time.monotonic()

    def expire_tokens(self) -> None:
        """Every issued token is stale from now on (the firmware's unlock timeout passed)."""
        self._tokens.clear()

    # ------------------------------------------------------------------ reads

    def _state(self) -> str:
        return "stopped" if self.miner.sleeping else "mining"

    def _info(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        miner = self.miner
        uptime = int(miner.uptime_s())
        return 200, {
            "miner": _model(miner),
            "model": "s19jpro",
            "fw_name": "Vnish",
            "fw_version": FW_VERSION,
            "build_uuid": "5b50805f-a372-4f07-bbc2-5020aa03321a",
            "build_name": "vnishnet",
            "platform": "xil",
            "install_type": "nand",
            "build_time": "2025-05-29 19:22:26+00:00",
            "algorithm": "sha256d",
            "hr_measure": "GH/s",
            "system": {
                "os": "GNU/Linux",
                "miner_name": "s19jpro",
                "file_system_version": "",
                "mem_total": 233712,
                "mem_free": 173956,
                "mem_free_percent": 74,
                "mem_buf": 31928,
                "mem_buf_percent": 13,
                "network_status": {
                    "mac": miner._mac(),
                    "dhcp": True,
                    "ip": miner.host,
                    "netmask": "255.255.255.0",
                    "gateway": "192.168.1.1",
                    "dns": ["192.168.1.1"],
                    "hostname": "antminer",
                },
                "uptime": f"{uptime // 3600}:{uptime // 60 % 60:02d}",
            },
            "serial": "N/A",
        }

    def _status(self, _body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        return 200, {
            "miner_state": self._state(),
            "miner_state_time": int(self.miner.uptime_s()),
            "find_miner": self.miner.blinking,
            "restart_required": self.restart_required,
            "reboot_required": False,
            "unlocked": self._unlocked(headers),
            "unlock_timeout": None,
            "warranty": "not_provided",
        }

    def _summary(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        miner = self.miner
        p = miner.profile
        temps = [miner.board_temps(b) for b in range(p.boards)]
        power = int(miner.power_w())
        rate_gh = round(miner.current_ths() * 1000, 2)
        avg_gh = round(miner.avg_ths() * 1000, 2)
        acc, _rej, _stale, hw = miner.totals()
        fans = miner.fan_speeds()
        return 200, {
            "miner": {
                "miner_status": {
                    "miner_state": self._state(),
                    "miner_state_time": int(miner.uptime_s()),
                },
                "miner_type": p.model,
                "hr_stock": round(p.nominal_ths * 1000, 1),
                "average_hashrate": round(avg_gh / 1000, 2),
                "instant_hashrate": round(rate_gh / 1000, 2),
                "hr_realtime": rate_gh,
                "hr_nominal": round(p.nominal_ths * 1000, 1),
                "hr_average": avg_gh,
                "pcb_temp": {
                    "min": int(min(t for t, _ in temps)),
                    "max": int(max(t for t, _ in temps)),
                },
                "chip_temp": {
                    "min": int(min(c for _, c in temps)),
                    "max": int(max(c for _, c in temps)),
                },
                "power_consumption": power,
                "power_usage": power,  # watts, as 1.2.x reports it and pyasic reads it
                "power_efficiency": round(power / rate_gh * 1000, 1) if rate_gh else 0.0,
                "hw_errors_percent": round(100 * hw / max(acc * 64, 1), 4),
                "hr_error": 0.0,
                "hw_errors": hw,
                "devfee_percent": 2.0,
                "devfee": round(rate_gh * 0.02, 2),
                "pools": self._pool_stats(),
                "cooling": {
                    "fan_num": len(fans),
                    "fans": [
                        {"id": i, "rpm": rpm, "status": "ok", "max_rpm": 6000}
                        for i, rpm in enumerate(fans)
                    ],
                    "settings": {"mode": {"name": "auto"}},
                    "fan_duty": 70 if miner._load() > 0 else 30,
                },
                "chains": [self._chain(b, temps[b]) for b in range(p.boards)],
                "found_blocks": 0,
                "best_share": 12904207043,
            }
        }

    def _pool_stats(self) -> list[dict[str, Any]]:
        active = self.miner.active_pool()
        rows: list[dict[str, Any]] = []
        for i, pool in enumerate(self.miner.pools):
            if not pool.enabled:
                status = "disabled"
            elif pool.dead:
                status = "offline"
            else:
                status = "active" if pool is active else "working"
            rows.append(
                {
                    "id": i,
                    "url": pool.url.split("://", 1)[-1],
                    "pool_type": "UserPool",
                    "user": pool.user,
                    "status": status,
                    "asic_boost": True,
                    "diff": "524K" if pool is active else "",
                    "accepted": int(pool.accepted),
                    "rejected": int(pool.rejected),
                    "stale": int(pool.stale),
                    "ls_diff": 524288.0 if pool is active else 0.0,
                    "ls_time": "0:00:05" if pool is active else "0",
                    "diffa": float(int(pool.accepted) * 524288),
                    "ping": 42,
                }
            )
        rows.append(
            {
                "id": len(rows),
                "url": "DevFee",
                "pool_type": "DevFee",
                "user": "DevFee",
                "status": "working",
                "asic_boost": True,
                "diff": "2.05K",
                "accepted": 0,
                "rejected": 0,
                "stale": 0,
                "ls_diff": 0.0,
                "ls_time": "0",
                "diffa": 0.0,
                "ping": 0,
            }
        )
        return rows

    def _chain(self, board: int, temps: tuple[float, float]) -> dict[str, Any]:
        miner = self.miner
        p = miner.profile
        board_c, chip_c = temps
        bad = p.chips_per_board - miner.chips_ok(board)
        rate = round(miner.board_ths(board) * 1000, 2)
        ideal = round(p.nominal_ths * 1000 / p.boards, 2)
        return {
            "id": board + 1,
            "frequency": float(p.frequency),
            "voltage": 13800,
            "power_consumption": int(miner.power_w() / p.boards),
            "hashrate_ideal": ideal,
            "hashrate_rt": rate,
            "hashrate_percentage": round(100 * rate / ideal, 2) if ideal else 0.0,
            "hr_error": 0.0,
            "hw_errors": int(miner.totals()[3] / p.boards),
            "pcb_temp": {"min": int(board_c - 8), "max": int(board_c)},
            "chip_temp": {"min": int(chip_c - 8), "max": int(chip_c)},
            "chip_statuses": {"red": bad, "orange": 0, "grey": 0},
            "status": {"state": "failure" if bad else self._state()}
            | ({"description": f"{bad} chips not responding"} if bad else {}),
        }

    def _perf_summary(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        return 200, {
            "current_preset": _preset_item(self.running_preset)
            | {"globals": {"volt": 1380, "freq": self.miner.profile.frequency}},
            "preset_switcher": _switcher(),
        }

    def _presets(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        return 200, [_preset_item(name) for name, _pretty, _tuned in PRESETS]

    def _settings(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        entries = self._pending_pools
        if entries is None:
            entries = [(p.url, p.user, p.password) for p in _ordered(self.miner)]
        slots = [{"url": u, "user": n, "pass": w} for u, n, w in entries[:POOL_SLOTS]]
        slots += [{"url": "", "user": "", "pass": ""}] * (POOL_SLOTS - len(slots))
        return 200, {
            "miner": {
                "pools": slots,
                "overclock": {
                    "preset": self.preset,
                    "modded_psu": False,
                    "globals": {"volt": 1380, "freq": self.miner.profile.frequency},
                    "chains": [{"freq": 0, "chips": None, "disabled": False}] * 3,
                    "preset_switcher": _switcher(),
                },
                "cooling": {
                    "fan_min_count": 4,
                    "fan_min_duty": 10,
                    "fan_max_duty": 100,
                    "mode": {"name": "auto", "param": 65},
                },
                "misc": {
                    "restart_temp": 95,
                    "quiet_mode": False,
                    "remain_stopped_on_reboot": False,
                },
            },
            "ui": {"theme": "auto", "locale": "en", "timezone": "GMT"},
            "regional": {"timezone": {"current": "GMT"}},
            "network": {
                "hostname": "antminer",
                "dhcp": True,
                "ipaddress": self.miner.host,
                "netmask": "255.255.255.0",
                "gateway": "192.168.1.1",
                "dnsservers": ["192.168.1.1"],
            },
            "layout": None,
            "password": None,
        }

    # ------------------------------------------------------------------ writes

    def _refusal(self, err: str) -> tuple[int, Any] | None:
        return (500, {"err": err}) if self.fault == "refuse" else None

    def _save_settings(self, body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        refused = self._refusal("Failed to save config: settings are locked")
        if refused is not None:
            return refused
        try:
            data = json.loads(body or b"null")
            miner_conf = data.get("miner") or {}
            if not isinstance(miner_conf, dict):
                raise TypeError("miner")
        except (ValueError, AttributeError, TypeError):
            return 400, {"err": "Json deserialize error: invalid type"}
        pools = miner_conf.get("pools")
        entries: list[tuple[str, str, str]] | None = None
        if pools is not None:
            if not isinstance(pools, list) or len(pools) > POOL_SLOTS:
                return 400, {"err": f"Json deserialize error: expected at most {POOL_SLOTS} pools"}
            entries = []
            for item in pools:
                if not isinstance(item, dict) or not all(
                    isinstance(item.get(k), str) for k in ("url", "user", "pass")
                ):
                    return 400, {"err": "Json deserialize error: missing field `url`"}
                if item["url"].strip():
                    entries.append((item["url"].strip(), item["user"], item["pass"]))
            if not entries:
                return 500, {"err": "At least one pool is required"}
        overclock = miner_conf.get("overclock")
        preset = overclock.get("preset") if isinstance(overclock, dict) else None
        if preset is not None and preset not in {name for name, _p, _t in PRESETS}:
            return 500, {"err": f"Unknown preset: {str(preset)[:40]}"}
        changed = False
        if entries is not None:
            self._pending_pools, changed = entries, True
        if preset is not None and preset != self.preset:
            self.preset, changed = preset, True
        self.restart_required = self.restart_required or changed
        return 200, {"restart_required": self.restart_required, "reboot_required": False}

    def _stop(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        refused = self._refusal("CGMiner err: Cgminer error failed-to-activate-pause-mode ")
        if refused is not None:
            return refused
        self.miner.sleeping = True
        return 200, None

    def _start(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        refused = self._refusal("CGMiner err: Cgminer error failed-to-activate-resume-mode ")
        if refused is not None:
            return refused
        self.miner.sleeping = False
        return 200, None

    def _mining_restart(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        """The miner software restarts with the saved settings (the system stays up)."""
        if self._pending_pools is not None:
            apply_pools(self.miner, self._pending_pools)
            self._pending_pools = None
        self.running_preset = self.preset
        self.restart_required = False
        self.miner.sleeping = False
        return 200, None

    def _reboot(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        self._mining_restart(body, headers)  # the saved settings are what the miner boots with
        return 200, {"after": REBOOT_AFTER_S}

    def _find_miner(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, Any]:
        self.miner.blinking = not self.miner.blinking
        return 200, {"on": self.miner.blinking}


def _model(miner: SimMiner) -> str:
    """'Antminer S19j Pro (Vnish 1.2.6)' -> 'Antminer S19j Pro'."""
    return str(miner.profile.model or "").split(" (", 1)[0]


def _ordered(miner: SimMiner) -> list[Any]:
    return sorted(miner.pools, key=lambda p: p.priority)


def _preset_item(name: str) -> dict[str, Any]:
    pretty, tuned = next(((p, t) for n, p, t in PRESETS if n == name), (name, False))
    return {
        "name": name,
        "pretty": pretty,
        "status": "tuned" if tuned else "untuned",
        "modded_psu_required": False,
    }


def _switcher() -> dict[str, Any]:
    return {
        "enabled": False,
        "top_preset": None,
        "decrease_temp": 75,
        "rise_temp": 55,
        "check_time": 300,
        "autochange_top_preset": False,
        "ignore_fan_speed": False,
        "min_preset": None,
        "power_delta": 0,
    }
