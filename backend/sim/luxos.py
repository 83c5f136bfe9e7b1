"""LuxOS on a simulated Antminer: its version, config and session-guarded write commands.

LuxOS reports like bmminer (``stats``, ``pools`` ...) but its guarded writes need a session:
``logon`` gives a SessionID (one session at a time: a second logon is refused while one is
active, and ``session`` tells the active id), ``rebootdevice``, ``resetminer``, ``curtail``
(sleep / wakeup), ``ledset`` (red, blink / off) and ``profileset`` carry it as their first
parameter and are refused without a valid one; ``logoff`` ends it. The pool commands take no
session (Luxor's command table: ``logon_required: false``): ``switchpool|1``,
``addpool|url,user,pass``; a session id in front is read as the pool index or URL and refused
as an invalid one, as LuxOS does.

Its own reads: ``power`` (estimated watts), ``fans``, ``tempctrl``, ``groups`` (pool groups;
each ``pools`` row names its ``GROUP``), ``profiles`` (the tuning profiles: ``default`` from the
board's nameplate plus 25 MHz / 0.1 V steps down and up, named ``<MHz>MHz``), ``profileget|name``
(one profile) and ``config`` (``Profile``: the active one). ``profileset|SID,name`` switches the
whole machine, changing its hashrate and power (a number 0-3 before the name is the legacy
board id and is skipped, as LuxOS does).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.sim.miner.server import SimMiner

LUXOS_VERSION = "2024.5.1.200003-6b0e6ae7"
LUX_DESC = f"LUXminer {LUXOS_VERSION}"
SESSION_COMMANDS = frozenset({"rebootdevice", "resetminer", "curtail", "ledset", "profileset"})
POOL_COMMANDS = frozenset({"switchpool", "addpool", "removepool", "enablepool", "disablepool"})
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
    expire: int = 0  # this many sessions time out right after logon (tests: renewal)
    profile: str = "default"  # the active tuning profile


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
    return {
        "RedLed": state.red_led if state is not None else "off",
        "MACAddr": miner._mac(),
        "Profile": state.profile if state is not None else "default",
    }


# ---------------------------------------------------------------------- profiles

STEPS_DOWN, STEPS_UP = 16, 8  # LuxOS generates 16 under- and 8 over-clocking profiles
STEP_MHZ, STEP_V = 25, 0.1
NAMEPLATE_V = 13.4


def profile_table(miner: SimMiner) -> dict[str, dict[str, Any]]:
    """This miner's profiles by name, in the order ``profiles`` lists them."""
    p = miner.profile
    table: dict[str, dict[str, Any]] = {}
    for step in range(-STEPS_DOWN, STEPS_UP + 1):
        mhz = p.frequency + step * STEP_MHZ
        volts = round(NAMEPLATE_V + step * STEP_V, 2)
        ratio = mhz / p.frequency
        name = "default" if step == 0 else f"{mhz}MHz"
        table[name] = {
            "Profile Name": name,
            "Frequency": mhz,
            "Voltage": volts,
            "Hashrate": round(p.nominal_ths * ratio, 2),
            "Watts": round(p.power_w * ratio * (volts / NAMEPLATE_V) ** 2),
            "IsTuned": False,
            "IsDynamic": False,
            "Step": str(step),
        }
    return table


def apply_profile(miner: SimMiner, name: str) -> None:
    """Run the machine at profile ``name``: its frequency, hashrate and power follow."""
    row = profile_table(miner)[name]
    if miner.lux is not None:
        miner.lux.profile = name
    miner.freq_mhz = row["Frequency"]
    miner.hash_scale = row["Hashrate"] / miner.profile.nominal_ths
    miner.power_scale = row["Watts"] / miner.profile.power_w


# ---------------------------------------------------------------------- reads


def reports(miner: SimMiner) -> dict[str, Callable[[], dict[str, Any]]]:
    """LuxOS's own read commands (joinable with ``+`` like the cgminer ones)."""

    def profiles() -> dict[str, Any]:
        rows = list(profile_table(miner).values())
        return {"STATUS": [_ok(miner, 320, "Profiles")], "PROFILES": rows, "id": 1}

    def power() -> dict[str, Any]:
        row = {"PSU": False, "Watts": miner.power_w()}  # estimated from the profile
        return {"STATUS": [_ok(miner, 300, "Power")], "POWER": [row], "id": 1}

    def fans() -> dict[str, Any]:
        rpms = miner.fan_speeds()
        speed = min(100, round(100 * max(rpms) / 6000))  # the PWM duty, in percent
        rows = [{"ID": i, "RPM": rpm, "Speed": speed} for i, rpm in enumerate(rpms)]
        ctrl = [{"MinFans": miner.profile.fans}]
        return {"STATUS": [_ok(miner, 202, "Fans")], "FANS": rows, "FANCTRL": ctrl, "id": 1}

    def tempctrl() -> dict[str, Any]:
        row = {"Mode": "Auto", "Target": 75, "Hot": 85, "Dangerous": 95}
        return {"STATUS": [_ok(miner, 200, "Temp control")], "TEMPCTRL": [row], "id": 1}

    def groups() -> dict[str, Any]:
        row = {"GROUP": 0, "Name": "Default", "Quota": 1, "Strategy": "Failover"}
        return {"STATUS": [_ok(miner, 310, "Groups")], "GROUPS": [row], "id": 1}

    return {
        "profiles": profiles,
        "power": power,
        "fans": fans,
        "tempctrl": tempctrl,
        "groups": groups,
    }


def _profileget(miner: SimMiner, param: str | None) -> dict[str, Any]:
    name = (param or "").split(",")[0].strip()
    if not name:
        return _error(miner, 323, "Missing profile name")
    row = profile_table(miner).get(name)
    if row is None:
        return _error(miner, 324, f"Profile {name} not found")
    return {"STATUS": [_ok(miner, 322, "Profile")], "PROFILE": [row], "id": 1}


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
    if command == "profileget":
        return _profileget(miner, param), None
    if command == "kill":
        state.session_id = None
        return {"STATUS": [_ok(miner, 13, "Session killed")], "id": 1}, None
    if command in PLAIN_WRITES:
        return _error(miner, 45, f"Access denied to '{command}' command"), None
    if command in POOL_COMMANDS:
        return _pool_write(miner, state, command, param)
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
    row = {"SessionID": secrets.token_hex(8)}
    state.session_id = None if state.expire > 0 else row["SessionID"]
    state.expire = max(0, state.expire - 1)
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
    if command == "profileset":
        return _profileset(miner, rest), None
    return miner._invalid_command(), None


def _pool_write(miner: SimMiner, state: LuxosState, command: str, param: str | None) -> Reply:
    """A pool command, which takes no session: whatever comes first is the pool index or URL."""
    first, _, rest = (param or "").partition(",")
    if command == "addpool":
        if param and "://" not in first:
            return _error(miner, 53, f"Invalid pool URL '{first[:64]}'"), None
    elif param and (rest or not first.strip().isdigit()):
        return _error(miner, 26, f"Invalid pool id '{param[:64]}'"), None
    if state.refuse:
        return _error(miner, 402, f"{command} is disabled by the site policy"), None
    return miner._privileged(command, param)  # the cgminer pool logic


def _profileset(miner: SimMiner, rest: str | None) -> dict[str, Any]:
    fields = [f.strip() for f in (rest or "").split(",")]
    if len(fields) > 1 and fields[0].isdigit() and 0 <= int(fields[0]) <= 3:
        fields = fields[1:]  # the legacy board id: profiles apply to the whole machine
    name = fields[0] if fields else ""
    if not name:
        return _error(miner, 323, "Missing profile name")
    if name not in profile_table(miner):
        return _error(miner, 324, f"Profile {name} not found")
    apply_profile(miner, name)
    row = {"Board": 0, "FrequencyStep": 5, "Profile": name, "VoltageStep": 0.05}
    return {"STATUS": [_ok(miner, 321, "Profile Set")], "PROFILE": [row], "id": 1}


def _ok(miner: SimMiner, code: int, msg: str) -> dict[str, Any]:
    return {"STATUS": "S", "When": miner._now(), "Code": code, "Msg": msg, "Description": LUX_DESC}


def _error(miner: SimMiner, code: int, msg: str) -> dict[str, Any]:
    head = {"STATUS": "E", "When": miner._now(), "Code": code, "Msg": msg, "Description": LUX_DESC}
    return {"STATUS": [head], "id": 1}
