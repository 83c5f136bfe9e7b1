"""Whatsminer's admin APIs on a simulated Whatsminer: encrypted v2 on 4028, v3 on its own port.

API v2 (btminer 2.x) shares the RPC port: ``get_token`` hands out ``time``/``salt``/``newsalt``
(the salt is fixed per miner, ``newsalt`` and ``time`` change each call; a sign is valid for
``token_ttl_s``), a privileged command arrives as ``{"enc": 1, "data": <base64>}`` encrypted
under sha256(md5-crypt key of the admin password) and is answered ``{"enc": <base64>}``. Data
that does not decrypt, or a sign not issued or expired, is answered in clear with code 135
"check token error"; with ``api_enabled`` off every privileged command gets code 45
"permission denied". Plain ``get_miner_info`` reports the LED state (``ledstat``).

API v3 (2024 firmware, real port 4433; here ``FleetSimulator(whatsminer_v3_port=...)``, 0 = a
free port each) frames every message with a 4-byte little-endian length; ``set.*`` commands need
``account``, ``ts`` and the 8-character token of the account's password and the miner's salt.

Commands change the simulated state: pools, sleep (btminer off), LED, power mode, reboot (dark
for the fleet's restart downtime; with ``reboot_drop`` "close" or "reset" it goes down without
answering, on either API, as btminer often does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backend.fleet.drivers.whatsminer_crypto import (
    V3_HEADER,
    CryptoError,
    v2_decrypt,
    v2_encrypt,
    v2_key,
    v2_sign,
    v3_frame,
    v3_token,
)
from backend.sim.side_server import SideServer, drop

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner

V2_API_VERSION = "2.0.5"
V3_API_VERSION = "3.0.1"
MAX_V3_FRAME = 64 * 1024
READ_TIMEOUT_S = 10.0
MAX_TOKENS = 64  # signs remembered per miner (oldest dropped)
POWER_MODES = {"set_low_power": "Low", "set_normal_power": "Normal", "set_high_power": "High"}
V3_POWER_MODES = {"low": "Low", "normal": "Normal", "high": "High"}

Reply = tuple[bytes, Callable[[], None] | None]


@dataclass(slots=True)
class WhatsminerState:
    password: str = "admin"  # v2 admin password (factory: admin)
    v3_account: str = "super"
    v3_password: str = "super"  # v3 factory password of account "super"
    api_enabled: bool = True  # False: privileged commands answer "permission denied"
    reboot_drop: str = ""  # "close" / "reset": a reboot drops the connection unanswered
    token_ttl_s: float = 1800.0
    salt: str = field(default_factory=lambda: secrets.token_hex(4))
    led: str = "auto"  # "auto" or "manual" (the fault light pattern was set)
    power_mode: str = "Normal"
    tokens: dict[str, float] = field(default_factory=dict)  # sign -> expiry (monotonic)
    token_requests: int = 0
    token_errors: int = 0  # privileged commands answered "check token error"
    commands: list[str] = field(default_factory=list)  # privileged commands carried out


# ---------------------------------------------------------------------- API v2 (port 4028)


def handle_v2(miner: SimMiner, request: dict[str, Any]) -> Reply | None:
    """The answer to ``get_token``, ``get_miner_info`` or an encrypted command, else None."""
    state = miner.wm
    if state is None:
        return None
    if request.get("enc") is not None and "data" in request:
        miner.requests.append("<encrypted>")
        return _encrypted(miner, state, request.get("data"))
    command = request.get("cmd", request.get("command"))
    if command == "get_token":
        miner.requests.append("get_token")
        return _dumps(_token(miner, state)), None
    if command == "get_miner_info":
        miner.requests.append("get_miner_info")
        info = {
            "ip": miner.host,
            "proto": "dhcp",
            "netmask": "255.255.255.0",
            "dns": "8.8.8.8",
            "mac": miner._mac(),
            "ledstat": state.led,
            "hostname": f"WhatsMiner{miner.index}",
        }
        return _dumps(_status(miner, "S", 131, info)), None
    return None


def _token(miner: SimMiner, state: WhatsminerState) -> dict[str, Any]:
    state.token_requests += 1
    now_text = str(int(time.time()))[-4:]  # btminer hands out the last digits of the time
    newsalt = secrets.token_hex(4)
    sign = v2_sign(v2_key(state.password, state.salt), now_text, newsalt)
    state.tokens[sign] = time.monotonic() + state.token_ttl_s
    while len(state.tokens) > MAX_TOKENS:
        state.tokens.pop(next(iter(state.tokens)))
    return _status(miner, "S", 134, {"time": now_text, "salt": state.salt, "newsalt": newsalt})


def _encrypted(miner: SimMiner, state: WhatsminerState, data: Any) -> Reply:
    key = v2_key(state.password, state.salt)
    try:
        plain = json.loads(v2_decrypt(key, data, max_bytes=8192))
    except (CryptoError, ValueError, UnicodeDecodeError):
        plain = None
    sign = plain.get("token") if isinstance(plain, dict) else None
    expiry = state.tokens.get(sign) if isinstance(sign, str) else None
    if not isinstance(plain, dict) or expiry is None or expiry < time.monotonic():
        state.token_errors += 1
        return _dumps(_status(miner, "E", 135, "check token error")), None
    if not state.api_enabled:
        return _dumps(_status(miner, "E", 45, "permission denied")), None
    command = str(plain.get("cmd") or "")
    reply, after = _command(miner, state, command, plain)
    if command == "reboot" and state.reboot_drop:
        return b"", after  # no reply: the miner's server drops the connection
    return _dumps({"enc": v2_encrypt(key, reply)}), after


def _command(
    miner: SimMiner, state: WhatsminerState, command: str, plain: dict[str, Any]
) -> tuple[dict[str, Any], Callable[[], None] | None]:
    ok = _status(miner, "S", 131, "API command OK")
    if command in ("reboot", "restart_btminer"):
        state.commands.append(command)
        return ok, lambda: miner._spawn(miner._restart())
    if command == "update_pools":
        pools = [
            (str(plain.get(f"pool{i}") or ""), plain.get(f"worker{i}"), plain.get(f"passwd{i}"))
            for i in (1, 2, 3)
        ]
        if not pools[0][0]:
            return _status(miner, "E", 132, "pool1 is empty"), None
        state.commands.append(command)
        set_pools(miner, [(u, str(w or ""), str(p or "")) for u, w, p in pools if u])
        return ok, None
    if command in ("power_off", "power_on"):
        state.commands.append(command)
        miner.sleeping = command == "power_off"
        return ok, None
    if command == "set_led":
        state.commands.append(command)
        auto = plain.get("param") == "auto"
        state.led = "auto" if auto else "manual"
        miner.blinking = not auto
        return ok, None
    if command in POWER_MODES:
        state.commands.append(command)
        state.power_mode = POWER_MODES[command]
        return ok, None
    return _status(miner, "E", 14, "invalid cmd"), None


def set_pools(miner: SimMiner, pools: list[tuple[str, str, str]]) -> None:
    from backend.sim.miner.pools import SimPool

    miner.pools = [
        SimPool(url=url, user=user, password=password, priority=rank)
        for rank, (url, user, password) in enumerate(pools[:3])
    ]


def _status(miner: SimMiner, severity: str, code: int, msg: Any) -> dict[str, Any]:
    return {
        "Code": code,
        "Description": "",
        "Msg": msg,
        "STATUS": severity,
        "When": miner._now(),
    }


def _dumps(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------------- API v3 (port 4433)


class WhatsminerV3Server(SideServer):
    """One miner's API v3 listener on its own address (real miners: port 4433)."""

    what = "Whatsminer v3 API"

    def __init__(self, miner: SimMiner, host: str, port: int) -> None:
        super().__init__(miner, host, port)
        self.requests: list[str] = []  # bounded below

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from backend.sim.miner.faults import Fault

        self._held.add(writer)
        try:
            while True:
                miner = self.miner
                if miner.restarting or not miner.listening:
                    return  # rebooting or offline: the whole API is down
                try:
                    async with asyncio.timeout(READ_TIMEOUT_S):
                        (length,) = V3_HEADER.unpack(await reader.readexactly(V3_HEADER.size))
                        if not 0 < length <= MAX_V3_FRAME:
                            return
                        body = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                if Fault.HANG in miner.faults:
                    with contextlib.suppress(Exception):
                        await reader.read()  # until the client gives up
                    return
                reply, after = self.respond(body)
                if after is not None and miner.wm is not None and miner.wm.reboot_drop:
                    drop(writer, reset=miner.wm.reboot_drop == "reset")  # only reboot has after
                    after()
                    return
                writer.write(v3_frame(reply))
                await writer.drain()
                if after is not None:
                    after()
                    return
        except (ConnectionError, OSError):
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    def respond(self, body: bytes) -> tuple[dict[str, Any], Callable[[], None] | None]:
        miner = self.miner
        state = miner.wm
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if (
            state is None
            or not isinstance(request, dict)
            or not isinstance(request.get("cmd"), str)
        ):
            return _v3(-3, "invalid json", ""), None
        command: str = request["cmd"]
        if len(self.requests) < 1000:
            self.requests.append(command)
        param = request.get("param")
        miner.tick()
        if command.startswith("set."):
            ts = request.get("ts")
            expected = (
                v3_token(command, state.v3_password, state.salt, ts)
                if isinstance(ts, int)
                else None
            )
            if request.get("account") != state.v3_account or request.get("token") != expected:
                state.token_errors += 1
                return _v3(-4, "token error", command), None
            if not state.api_enabled:
                return _v3(-4, "permission denied", command), None
            return self._set(command, param)
        if command == "get.device.info":
            if param == "salt":
                return _v3(0, {"salt": state.salt}, command), None
            return _v3(0, _device_info(miner), command), None
        if command == "get.miner.status":
            return _v3(0, _miner_status(miner, str(param or "summary")), command), None
        if command == "get.miner.setting":
            return _v3(0, {"power-mode": state.power_mode.lower()}, command), None
        return _v3(-2, "invalid command", command), None

    def _set(self, command: str, param: Any) -> tuple[dict[str, Any], Callable[[], None] | None]:
        miner = self.miner
        state = miner.wm
        assert state is not None
        if command == "set.system.reboot":
            state.commands.append(command)
            return _v3(0, "ok", command), lambda: miner._spawn(miner._restart())
        if command == "set.miner.service" and param in ("start", "stop", "restart"):
            state.commands.append(f"{command} {param}")
            miner.sleeping = param == "stop"
            return _v3(0, "ok", command), None
        if command == "set.miner.power_mode" and param in V3_POWER_MODES:
            state.commands.append(f"{command} {param}")
            state.power_mode = V3_POWER_MODES[param]
            return _v3(0, "ok", command), None
        if command == "set.system.led" and (param == "auto" or isinstance(param, list)):
            state.commands.append(command)
            state.led = "auto" if param == "auto" else "manual"
            miner.blinking = param != "auto"
            return _v3(0, "ok", command), None
        if command == "set.miner.pools" and isinstance(param, list) and param:
            pools = [
                (str(p.get("pool") or ""), str(p.get("worker") or ""), str(p.get("passwd") or ""))
                for p in param[:3]
                if isinstance(p, dict)
            ]
            if not pools or not pools[0][0]:
                return _v3(-1, "invalid pools", command), None
            state.commands.append(command)
            set_pools(miner, [p for p in pools if p[0]])
            return _v3(0, "ok", command), None
        return _v3(-1, "invalid parameter", command), None


def _v3(code: int, msg: Any, desc: str) -> dict[str, Any]:
    return {"code": code, "when": int(time.time()), "msg": msg, "desc": desc}


def _device_info(miner: SimMiner) -> dict[str, Any]:
    state = miner.wm
    fans = miner.fan_speeds()
    return {
        "network": {"mac": miner._mac(), "hostname": f"WhatsMiner{miner.index}", "ip": miner.host},
        "miner": {
            "working": "false" if miner.sleeping else "true",
            "type": miner.profile.model,
            "miner-sn": f"SIMWM{miner.index:08d}",
        },
        "system": {
            "api": V3_API_VERSION,
            "fwversion": "20240906.19.REL",
            "ledstatus": state.led if state is not None else "auto",
        },
        "power": {"fanspeed": fans[0] if fans else 0},
        "hardware": {"boards": miner.profile.boards},
    }


def _miner_status(miner: SimMiner, what: str) -> dict[str, Any]:
    if what == "pools":
        active = miner.active_pool()
        return {
            "pools": [
                {
                    "id": i + 1,
                    "url": p.url,
                    "account": p.user,
                    "status": "dead" if p.dead else ("alive" if p.enabled else "disabled"),
                    "stratum-active": p is active,
                }
                for i, p in enumerate(miner.pools)
            ]
        }
    if what == "edevs":
        rows = []
        for board in range(miner.profile.boards):
            _, chip = miner.board_temps(board)
            rows.append(
                {
                    "id": board,
                    "hash-average": round(miner.board_ths(board, jitter=False), 2),
                    "chip-temp-min": round(chip - 8, 1),
                    "chip-temp-max": chip,
                    "effective-chips": miner.chips_ok(board),
                }
            )
        return {"edevs": rows}
    return {
        "summary": {
            "elapsed": int(miner.uptime_s()),
            "hash-realtime": round(miner.current_ths(), 2),
            "factory-hash": miner.profile.nominal_ths,
            "power-realtime": miner.power_w(),
            "power-limit": 0,
            "environment-temperature": 25.0,
        }
    }
