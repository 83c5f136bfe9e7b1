"""The stock Antminer web CGI of one simulated miner: lighttpd with HTTP digest auth.

Serves what the control driver uses (``backend/fleet/drivers/antminer.py``) in the firmware's
own shapes: ``get_miner_conf`` (``bitmain-work-mode`` as a string, three pool slots),
``set_miner_conf`` (``miner-mode`` written as a number or string; the whole configuration
replaced), ``reboot``, ``blink`` / ``get_blink_status`` (``{"blink": bool}``),
``get_system_info``; and the status pages the firmware's own UI reads: ``stats`` (per-chain
hashrate, chips, PCB/chip/PIC sensors, serial; the same state as the RPC ``stats``) and
``summary`` (hashrates and the rate/network/fans/temp status list). Digest auth with realm
``antMiner Configuration`` and qop ``auth`` (a wrong password is a 401, every time).

``fault`` switches misbehaviour on for tests: ``hang`` (accepts, never answers), ``html`` (a
different web server: HTML 404s), ``refuse`` (the firmware rejects every change),
``reboot_drop`` (``reboot.cgi`` reboots without answering: the connection just closes).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from backend.sim.http_server import SimRequest, SimResponse
from backend.sim.side_server import Answer, HttpSideServer

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner

REALM = "antMiner Configuration"
POOL_SLOTS = 3
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class AntminerWebServer(HttpSideServer):
    """One miner's web interface on its own address (real miners: port 80)."""

    what = "web CGI"
    server = "lighttpd/1.4.32"

    def __init__(
        self, miner: SimMiner, host: str, port: int, *, user: str = "root", password: str = "root"
    ) -> None:
        super().__init__(miner, host, port)
        self.user = user
        self.password = password
        self.requests: list[str] = []  # "GET get_miner_conf" ..., bounded below
        self.unauthorized = 0  # 401s sent after a wrong password (not the first challenge)
        self._nonces: set[str] = set()

    # ------------------------------------------------------------------ HTTP

    def answer(self, request: SimRequest) -> Answer:
        status, extra, payload, after = self._route(
            request.method, request.path, request.headers, request.body
        )
        if after is not None and self.fault == "reboot_drop":  # only reboot.cgi has an after
            return None, after
        content_type = extra.pop("Content-Type", "application/json")
        return SimResponse(status, payload, content_type, extra), after

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, Any]:
        if self.fault == "html":
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not Found</body></html>", None
        if not self._authorized(method, path, headers.get("authorization", "")):
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            if len(self._nonces) > 256:
                self._nonces.pop()
            challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth"'
            return 401, {"WWW-Authenticate": challenge}, b"401 Unauthorized", None
        name = path.split("?", 1)[0].removeprefix("/cgi-bin/").removesuffix(".cgi")
        if len(self.requests) < 1000:
            self.requests.append(f"{method} {name}")
        handler = {
            "get_miner_conf": self._get_conf,
            "set_miner_conf": self._set_conf,
            "reboot": self._reboot,
            "blink": self._blink,
            "get_blink_status": self._blink_status,
            "get_system_info": self._system_info,
            "stats": self._stats,
            "summary": self._summary,
        }.get(name)
        if handler is None:
            return 404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>", None
        reply, after = handler(body)
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode(), after

    def _authorized(self, method: str, uri: str, header: str) -> bool:
        if not header.lower().startswith("digest "):
            return False
        fields = {m[0]: m[1] or m[2] for m in _PARAM.findall(header[7:])}
        nonce = fields.get("nonce", "")
        if nonce not in self._nonces or fields.get("realm") != REALM:
            return False
        ha1 = _md5(f"{fields.get('username', '')}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{fields.get('uri', uri)}")
        if fields.get("qop") == "auth":
            expected = _md5(
                f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        ok = fields.get("username") == self.user and secrets.compare_digest(
            expected, fields.get("response", "")
        )
        if not ok:
            self.unauthorized += 1
        return ok

    # ------------------------------------------------------------------ CGI

    def _get_conf(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        slots = [{"url": p.url, "user": p.user, "pass": p.password} for p in _ordered(miner)]
        slots = slots[:POOL_SLOTS] + [{"url": "", "user": "", "pass": ""}] * (
            POOL_SLOTS - len(slots)
        )
        conf = {
            "pools": slots,
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100",
            "bitmain-use-vil": True,
            "bitmain-freq": str(miner.profile.frequency),
            "bitmain-voltage": "1400",
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-work-mode": str(miner.work_mode),
            "bitmain-freq-level": "100",
        }
        return conf, None

    def _set_conf(self, body: bytes) -> tuple[dict[str, Any], None]:
        illegal = {"stats": "error", "code": "M001", "msg": "Illegal parameters!"}
        if self.fault == "refuse":
            return {"stats": "error", "code": "M002", "msg": "Configuration locked"}, None
        try:
            conf = json.loads(body)
            mode = int(str(conf["miner-mode"]))
            pools = conf["pools"]
        except (ValueError, KeyError, TypeError):
            return illegal, None
        if mode not in (0, 1, 3) or not isinstance(pools, list) or len(pools) != POOL_SLOTS:
            return illegal, None
        entries = []
        for item in pools:
            if not isinstance(item, dict):
                return illegal, None
            url = str(item.get("url") or "").strip()
            if url:
                entries.append((url, str(item.get("user") or ""), str(item.get("pass") or "")))
        if not entries:
            return illegal, None
        apply_pools(self.miner, entries)
        self.miner.work_mode = mode
        self.miner.sleeping = mode == 1
        return {"stats": "success", "code": "M000", "msg": "OK!"}, None

    def _reboot(self, _body: bytes) -> tuple[dict[str, Any], Any]:
        miner = self.miner
        return {"stats": "success", "code": "R000", "msg": "OK!"}, lambda: miner._spawn(
            miner._restart()
        )

    def _blink(self, body: bytes) -> tuple[dict[str, Any], None]:
        try:
            wanted = str(json.loads(body or b"{}").get("blink", "")).lower()
        except (ValueError, AttributeError):
            wanted = ""
        if wanted not in ("true", "false"):
            return {"stats": "error", "code": "B001", "msg": "Illegal parameters!"}, None
        self.miner.blinking = wanted == "true"
        return {"code": "B000" if self.miner.blinking else "B100"}, None

    def _blink_status(self, _body: bytes) -> tuple[dict[str, Any], None]:
        return {"blink": self.miner.blinking}, None

    def _head(self, msg: str) -> dict[str, Any]:
        miner = self.miner
        return {
            "STATUS": {"STATUS": "S", "when": miner._now(), "Msg": msg, "api_version": "1.0.0"},
            "INFO": {
                "miner_version": "49.0.1.3",
                "CompileTime": "Tue Dec  6 16:12:30 CST 2022",
                "type": miner.profile.model,
            },
        }

    def _rates(self) -> dict[str, Any]:
        miner = self.miner
        avg_gh = round(miner.avg_ths() * 1000, 2)
        return {
            "elapsed": int(miner.uptime_s()),
            "rate_5s": round(miner.current_ths() * 1000, 2),
            "rate_30m": round(avg_gh * 1.0004, 2),
            "rate_avg": avg_gh,
            "rate_ideal": round(miner.profile.nominal_ths * miner.hash_scale * 1000, 2),
            "rate_unit": "GH/s",
        }

    def _stats(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        p = miner.profile
        fans = miner.fan_speeds()
        hw = miner.totals()[3]
        chains = []
        for b in range(p.boards):
            pcb, chip, pic = miner.board_sensors(*miner.board_temps(b))
            ok = miner.chips_ok(b)
            chains.append(
                {
                    "index": b,
                    "freq_avg": miner.freq_mhz,
                    "rate_ideal": round(p.nominal_ths * miner.hash_scale * 1000 / p.boards, 2),
                    "rate_real": round(miner.board_ths(b) * 1000, 2),
                    "asic_num": ok,
                    "asic": miner._chain_acs(b),
                    "temp_pic": pic,
                    "temp_pcb": pcb,
                    "temp_chip": chip,
                    "hw": hw // p.boards,
                    "eeprom_loaded": True,
                    "sn": f"JYZZYRRBDJHJE{miner.index % 10000:04d}{b}",
                    "hwp": 0.0,
                }
            )
        stats = {
            **self._rates(),
            "chain_num": p.boards,
            "fan_num": p.fans,
            "fan": fans,
            "hwp_total": 0.0,
            "miner-mode": miner.work_mode,
            "freq-level": 100,
            "chain": chains,
        }
        return {**self._head("stats"), "STATS": [stats]}, None

    def _summary(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        checks = [
            {"type": kind, "status": "s", "code": 0, "msg": ""}
            for kind in ("rate", "network", "fans", "temp")
        ]
        summary = {
            **self._rates(),
            "hw_all": miner.totals()[3],
            "bestshare": 12904207043,
            "status": checks,
        }
        return {**self._head("summary"), "SUMMARY": [summary]}, None

    def _system_info(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        info = {
            "minertype": miner.profile.model,
            "nettype": "DHCP",
            "netdevice": "eth0",
            "macaddr": miner._mac(),
            "hostname": "Antminer",
            "ipaddress": miner.host,
            "netmask": "255.255.255.0",
            "system_mode": "GNU/Linux",
            "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
            "system_filesystem_version": "Tue Dec  6 16:12:30 CST 2022",
            "firmware_type": "Release",
        }
        return info, None


def _ordered(miner: SimMiner) -> list[Any]:
    return sorted(miner.pools, key=lambda p: p.priority)


def apply_pools(miner: SimMiner, entries: list[tuple[str, str, str]]) -> None:
    """Replace the pool list in the given order, keeping the counters of pools that stay."""
    from backend.sim.miner.pools import SimPool

    known = {(p.url, p.user): p for p in miner.pools}  # one URL may serve several accounts
    pools = []
    for priority, (url, user, password) in enumerate(entries):
        pool = known.pop((url, user), None) or SimPool(url=url, user=user)
        pool.user, pool.password, pool.priority, pool.enabled = user, password, priority, True
        pools.append(pool)
    miner.pools = pools
