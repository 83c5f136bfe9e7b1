"""LuxOS on a simulated Antminer: its version, config and session-guarded write commands.

LuxOS reports like bmminer (``stats``, ``pools`` ...) but writes need a session: ``logon``
gives a SessionID (one session at a time: a second logon is refused while one is active, and
``session`` tells the active id), each write carries it as its first parameter, ``logoff``
ends it. ``rebootdevice``, ``curtail`` (sleep / wakeup), ``ledset`` (red, blink / off) and the
pool commands are served; a write without a valid session is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.sim.fleet import SimMiner

LUXOS_VERSION = "2024.5.1.200003-6b0e6ae7"
LUX_DESC = f"LUXminer {LUXOS_VERSION}"
SESSION_COMMANDS = frozenset(
    {
        "rebootdevice",
        "resetminer",
        "curtail",
        "ledset",
        "switchpool",
        "addpool",
        "removepool",
        "enablepool",
        "disablepool",
        "profileset",
    }
)
# cgminer writes without a session are refused: LuxOS guards them all.
PLAIN_WRITES = frozenset({"restart", "ascset", "privileged"})

Reply = tuple[dict[str, Any], Callable[[], None] | None]


@dataclass(slots=True)
class LuxosState:
    session_id: str | None = None
    red_led: str = "off"
    password: str | None = None  # None: logon needs no credentials (the factory setting)
    user: str = "root"
    refuse: bool = False  # the firmware rejects every write (tests)


def version(miner: SimMiner) -> dict[str, Any]:
    row = {
        "API": "3.7",
        "LUXminer": LUXOS_VERSION,
        "Miner": LUXOS_VERSION,
        "Type": miner.profile.model,
    }
    return {"STATUS": [_ok(miner, 22, "LUXminer versions")], "VERSION": [row], "id": 1}


def stats_head(miner: SimMiner) -> dict[str, Any]:
    """STATS[0] names LUXminer (not BMMiner): pollers that skip ``version`` still see LuxOS."""
    return {"LUXminer": LUXOS_VERSION, "Miner": LUXOS_VERSION, "Type": miner.profile.model}


def config_extra(miner: SimMiner) -> dict[str, Any]:
    state = miner.lux
    return {"RedLed": state.red_led if state is not None else "off", "MACAddr": miner._mac()}


def handle(miner: SimMiner, command: str, param: str | None) -> Reply | None:
    """The reply to a LuxOS-specific or session-guarded command, or None (not ours)."""
    state = miner.lux
    if state is None:
        return None
    if command == "logon":
        return _logon(miner, state, param)
    if command == "session":
        row = {"SessionID": state.session_id or ""}
        return {"STATUS": [_ok(miner, 8, "Session")], "SESSION": [row], "id": 1}, None
    if command == "logoff":
        if not state.session_id or (param or "").split(",")[0] != state.session_id:
            return _error(miner, 401, "Invalid session id"), None
        state.session_id = None
        return {"STATUS": [_ok(miner, 12, "Session closed")], "id": 1}, None
    if command == "kill":
        state.session_id = None
        return {"STATUS": [_ok(miner, 13, "Session killed")], "id": 1}, None
    if command in PLAIN_WRITES:
        return _error(miner, 45, f"Access denied to '{command}' command"), None
    if command not in SESSION_COMMANDS:
        return None
    fields = (param or "").split(",", 1)
    if not state.session_id or fields[0] != state.session_id:
        return _error(miner, 401, "Invalid session id"), None
    if state.refuse:
        return _error(miner, 402, f"{command} is disabled by the site policy"), None
    rest = fields[1] if len(fields) > 1 else None
    return _write(miner, state, command, rest)


def _logon(miner: SimMiner, state: LuxosState, param: str | None) -> Reply:
    if state.session_id is not None:
        return _error(miner, 400, "Another session is already active"), None
    if state.password is not None:
        user, _, password = (param or "").partition(",")
        if user != state.user or password != state.password:
            return _error(miner, 403, "Invalid password"), None
    state.session_id = secrets.token_hex(8)
    row = {"SessionID": state.session_id}
    return {"STATUS": [_ok(miner, 11, "Session created")], "SESSION": [row], "id": 1}, None


def _write(miner: SimMiner, state: LuxosState, command: str, rest: str | None) -> Reply:
    if command == "rebootdevice":
        state.session_id = None  # the reboot ends every session
        after = lambda: miner._spawn(miner._restart())  # noqa: E731
        return {"STATUS": [_ok(miner, 301, "Rebooting device")], "id": 1}, after
    if command == "curtail":
        mode = (rest or "").strip().lower()
        if mode not in ("sleep", "wakeup"):
            return _error(miner, 302, f"Invalid curtail mode '{mode}'"), None
        miner.sleeping = mode == "sleep"
        return {"STATUS": [_ok(miner, 303, f"Curtail {mode} OK")], "id": 1}, None
    if command == "ledset":
        color, _, led = (rest or "").partition(",")
        if color != "red" or led not in ("on", "off", "blink"):
            return _error(miner, 304, "Invalid LED parameters"), None
        state.red_led = led
        miner.blinking = led != "off"
        return {"STATUS": [_ok(miner, 305, f"LED {color} {led}")], "id": 1}, None
    if command in ("switchpool", "addpool", "removepool", "enablepool", "disablepool"):
        reply, after = miner._privileged(command, rest)  # the cgminer pool logic, once allowed
        return reply, after
    return miner._invalid_command(), None


def _ok(miner: SimMiner, code: int, msg: str) -> dict[str, Any]:
    return {"STATUS": "S", "When": miner._now(), "Code": code, "Msg": msg, "Description": LUX_DESC}


def _error(miner: SimMiner, code: int, msg: str) -> dict[str, Any]:
    head = {"STATUS": "E", "When": miner._now(), "Code": code, "Msg": msg, "Description": LUX_DESC}
    return {"STATUS": [head], "id": 1}
