"""Turn per-command cgminer replies into one ``MinerSnapshot`` per miner.

Firmwares disagree on units (GH/s on Antminer, MH/s on Whatsminer and cgminer),
spell keys oddly (``Tenperature``, ``Pool Stale%%``), send numbers as strings
(``"37603.30"``, ``"524K"``) and scatter temperatures across STATS strings
(``"40-40-55-55"``), DEVS rows or Braiins ``temps``. Everything here is pure and
tolerant: a value we cannot read becomes ``None``, never an invented 0.

Tolerant is not credulous: a reading that is present but impossible (negative, NaN,
``"abc"``, beyond ``plausible``'s ranges) becomes ``None`` too, and the snapshot is then
status ``error`` with ``error="suspect data: ..."`` (see ``backend/fleet/plausible.py``), so
it never counts as a healthy miner.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from backend.fleet.codec import CgminerProtocolError, message_object, parse_status
from backend.fleet.plausible import (
    MAX_CHIPS,
    MAX_FAN_RPM,
    MAX_HASHRATE_THS,
    MAX_POWER_W,
    MAX_UPTIME_S,
    TEMP_MAX_C,
    TEMP_MIN_C,
    Audit,
)

MinerStatus = str  # 'online' | 'offline' | 'error' | 'sleeping'

FAMILY_ANTMINER = "antminer"
FAMILY_WHATSMINER = "whatsminer"
FAMILY_BRAIINS = "braiins"
FAMILY_CGMINER = "cgminer"
FAMILY_UNKNOWN = "unknown"

# Extra report commands worth one more request once the family is known.
FAMILY_EXTRA_COMMANDS: dict[str, tuple[str, ...]] = {
    FAMILY_WHATSMINER: ("get_version", "devdetails"),
    FAMILY_BRAIINS: ("fans", "temps", "tempctrl", "devdetails", "tunerstatus"),
}

# Chips per hashboard for stock Antminers whose count we are sure of.
ANTMINER_CHIPS_PER_BOARD: dict[str, int] = {
    "S9": 63,
    "S19": 76,
    "S19 Pro": 114,
    "S19j Pro": 126,
    "S19 XP": 110,
    "S21": 108,
}

_TO_THS = {"k": 1e-9, "m": 1e-6, "g": 1e-3, "t": 1.0, "p": 1e3, "e": 1e6}
_SI = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
_NUMBER = re.compile(
    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmMgGtTpPeE])?(?:[hH](?:/?[sS])?)?"
)
_KEY_ALIASES = {"tenperature": "temperature"}
_CHAIN_KEY = re.compile(r"chain(?:acn|acs|rate)(\d{1,4})")  # bounded: int() of any key is safe
_FAN_KEY = re.compile(r"fan(\d{1,4})")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_OK_LETTERS = frozenset({"S", "I", "W"})
_ABSENT = object()
_SYNTHETIC_POOLS = ("devfee", "dev fee", "benchmark")
_MINER_SOFTWARE = ("BMMiner", "CGMiner", "BOSminer", "BOSer", "LUXminer", "BTMiner", "sgminer")
MAX_TEXT = 200  # model, firmware, pool URL/user: a label, not a place to store a megabyte


# --------------------------------------------------------------------------- data model


@dataclass(slots=True)
class Board:
    """One hashboard / chain."""

    index: int
    chips_expected: int | None = None
    chips_ok: int | None = None
    chips_failed: int | None = None
    hashrate_ths: float | None = None
    temp_board_c: float | None = None
    temp_chip_c: float | None = None


@dataclass(slots=True)
class Pool:
    """One configured pool as the miner reports it (synthetic rows such as DevFee excluded)."""

    url: str
    user: str | None = None
    status: str | None = None  # lower-cased firmware word: 'alive', 'dead', 'disabled', ...
    active: bool = False
    priority: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    stale: int | None = None


@dataclass(slots=True)
class MinerSnapshot:
    """Everything the console shows about one miner at one poll; units are in the names."""

    status: MinerStatus
    model: str | None = None
    firmware: str | None = None
    hashrate_ths: float | None = None
    hashrate_avg_ths: float | None = None
    hashrate_expected_ths: float | None = None
    power_w: float | None = None
    efficiency_jth: float | None = None
    temp_inlet_c: float | None = None
    temp_outlet_c: float | None = None
    temp_board_max_c: float | None = None
    temp_chip_max_c: float | None = None
    fans_rpm: list[int] = field(default_factory=list)
    boards: list[Board] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    accepted: int | None = None
    rejected: int | None = None
    hardware_errors: int | None = None
    uptime_s: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def offline(cls, error: str) -> MinerSnapshot:
        return cls(status="offline", error=error)

    @classmethod
    def failed(cls, error: str) -> MinerSnapshot:
        return cls(status="error", error=error)


# --------------------------------------------------------------------------- value parsing


def to_float(value: Any) -> float | None:
    """Lenient number: 1.5, "1.5", "1600M", "524K", "12 TH/s"; bools, blanks, nan -> None."""
    kind = type(value)
    if kind is float or kind is int:  # the common case first: plain JSON numbers
        try:
            number = float(value)
        except OverflowError:  # an int past 1e308
            return None
        return number if number - number == 0 else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        if "_" not in value:  # float() alone reads "140258.58"; units need the pattern
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                return number if number - number == 0 else None
        match = _NUMBER.fullmatch(value.strip().replace(",", ""))
        if not match:
            return None
        number = float(match.group(1))
        if match.group(2):
            number *= _SI[match.group(2).lower()]
    else:
        return None
    return number if math.isfinite(number) else None


def to_int(value: Any) -> int | None:
    if value.__class__ is int:  # JSON integers (counters, rpm...): already exact
        return value
    number = to_float(value)
    return None if number is None else round(number)


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "y", "yes", "1", "on"):
            return True
        if word in ("false", "n", "no", "0", "off", ""):
            return False
    return None


def parse_duration_s(value: Any) -> int | None:
    """``"0:00:27"``, ``"1:02:03:04"`` (d:h:m:s) or a plain number of seconds."""
    if isinstance(value, str) and ":" in value:
        try:
            parts = [int(p) for p in value.strip().split(":")]
        except ValueError:
            return None
        total = 0
        for unit, part in zip((1, 60, 3600, 86400), reversed(parts), strict=False):
            total += unit * part
        return total
    return to_int(value)


def last_share_age_s(value: Any, now: float | None = None) -> int | None:
    """Seconds since the last share from either encoding of ``Last Share Time``.

    Antminer sends an age (``"0:00:27"``), cgminer/Whatsminer an epoch; 0 means never.
    """
    if isinstance(value, str) and ":" in value:
        return parse_duration_s(value)
    stamp = to_float(value)
    if not stamp:
        return None
    if stamp > 1e9:  # epoch seconds
        return max(0, int((time.time() if now is None else now) - stamp))
    return int(stamp)


def _squash_key(key: str) -> str:
    squashed = _NOT_ALNUM.sub("", key.lower())
    return _KEY_ALIASES.get(squashed, squashed)


class _KeyCache(dict[str, str]):
    """``name -> normalised name``; a plain dict lookup on the hot path (misses compute)."""

    def __missing__(self, key: str) -> str:
        value = _squash_key(key)
        if len(self) < 16384:
            self[key] = value
        return value


_NORM = _KeyCache()


def _norm_key(key: str) -> str:
    return _NORM[key]


class Schema:
    """What a row's key set alone says, computed once per distinct key tuple.

    Every Antminer S19 sends the same 90 STATS keys in the same order: normalising them,
    and the questions asked of key names only (which chains, which fans), is done once.
    A row then needs no index of its own: ``key`` maps a normalised name to the row's
    own key (its first spelling, when two spellings normalise alike).
    """

    __slots__ = ("derived", "key", "names", "reader")

    def __init__(self, keys: tuple[Any, ...]) -> None:
        self.key: dict[str, Any] = {}
        for key in keys:
            self.key.setdefault(_NORM[str(key)], key)
        self.names = tuple(self.key)
        self.derived: dict[str, Any] = {}
        self.reader: Any = None  # shape_reader.RowKeys, built on first use


_SCHEMAS: dict[tuple[Any, ...], Schema] = {}
_MAX_SCHEMAS = 4096


def _schema(keys: tuple[Any, ...]) -> Schema:
    schema = _SCHEMAS.get(keys)
    if schema is None:
        if len(_SCHEMAS) >= _MAX_SCHEMAS:  # odd firmware churning key sets: start over
            _SCHEMAS.clear()
        schema = _SCHEMAS[keys] = Schema(keys)
    return schema


class Row:
    """Dict view that finds keys regardless of case, spaces, ``%`` or known typos."""

    __slots__ = ("_key", "_raw", "raw", "schema")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self._raw: Mapping[str, Any] = raw if isinstance(raw, dict) else dict(raw)
        self.schema = _schema(tuple(self._raw))
        self._key = self.schema.key

    def get(self, *names: str) -> Any:
        for name in names:
            key = self._key.get(_NORM[name], _ABSENT)
            if key is _ABSENT:
                continue
            value = self._raw[key]
            # None and "" mean absent; any other value (0 included) is an answer
            if value is not None and (value or value.__class__ is not str):
                return value
        return None

    def get_normalised(self, name: str) -> Any:
        """``get`` for one name already in normalised form (hot paths precompute them)."""
        key = self._key.get(name, _ABSENT)
        if key is _ABSENT:
            return None
        value = self._raw[key]
        return value if value is not None and (value or value.__class__ is not str) else None

    def num(self, *names: str) -> float | None:
        for name in names:
            number = to_float(self.get(name))
            if number is not None:
                return number
        return None

    def has(self, name: str) -> bool:
        return _NORM[name] in self._key

    def names(self) -> Iterable[str]:
        """Normalised key names (lower-case, alphanumerics only)."""
        return self.schema.names


_HASHRATE_PREFIXES = ("t", "g", "m", "k", "p")
_HASHRATE_KEYS: dict[str, tuple[tuple[str, float], ...]] = {}


def hashrate_ths(row: Row, window: str, audit: Audit | None = None) -> float | None:
    """Read ``GHS 5s`` / ``MHS av`` / ``KHS 1m``... for one window, converted to TH/s.

    With ``audit``, an unreadable or impossible value is noted there and not returned.
    """
    keys = _HASHRATE_KEYS.get(window)
    if keys is None:
        keys = _HASHRATE_KEYS[window] = tuple(
            (_NORM[f"{prefix}hs {window}"], _TO_THS[prefix]) for prefix in _HASHRATE_PREFIXES
        )
    for key, factor in keys:
        raw = row.get_normalised(key)
        if raw is None:
            continue
        number = to_float(raw)
        if number is not None:
            if audit is None:
                return number * factor
            return audit.bounded("hashrate", number * factor, MAX_HASHRATE_THS, unit=" TH/s")
        if audit is not None:  # a flagged reading is not replaced by another spelling's
            audit.unreadable("hashrate", raw)
            return None
    return None


def _num(row: Row, audit: Audit, what: str, *names: str) -> float | None:
    """``Row.num`` noting (and stopping at) a present but unreadable value; bounds are the
    caller's."""
    for name in names:
        raw = row.get(name)
        if raw is None:
            continue
        number = to_float(raw)
        if number is None:
            audit.unreadable(what, raw)
        return number
    return None


def _counter(raw: Any, audit: Audit, what: str, high: int | None = None) -> int | None:
    """A whole-number reading in [0, high]; anything else is noted and None."""
    value = to_int(raw)
    if value is None:
        if raw is not None:
            audit.unreadable(what, raw)
        return None
    return audit.count(what, value) if high is None else audit.count(what, value, high)


def _unit_factor(unit: Any, default: str = "g") -> float:
    text = str(unit or default).strip().lower()
    return _TO_THS.get(text[:1], _TO_THS[default])


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _temp(value: Any, audit: Audit | None = None) -> float | None:
    """Temperatures in [-40, 0] are absent sensors on every firmware we know (they read 0
    or a little below); outside [-40, 150] °C a reading is impossible (noted in ``audit``)."""
    number = to_float(value)
    if number is None:
        if audit is not None and value is not None:
            audit.unreadable("temperature", value)
        return None
    if 0 < number <= TEMP_MAX_C:
        return number
    if audit is not None and not TEMP_MIN_C <= number <= TEMP_MAX_C:
        audit.out_of_range("temperature", number, " °C", TEMP_MIN_C)
    return None


_SENSOR_TEXT: dict[str, tuple[tuple[float | None, ...], float | None]] = {}


def _sensor_values(text: str) -> tuple[tuple[float | None, ...], float | None]:
    """``"73-45-0-65"`` -> ((73, 45, None, 65), None): one reading per sensor, absent ones
    None; second, the first impossible reading (dropped from the first), if any.

    Cached by the text: temperatures repeat across a fleet, so most lookups are hits.
    """
    values = _SENSOR_TEXT.get(text)
    if values is None:
        if len(_SENSOR_TEXT) >= 8192:
            _SENSOR_TEXT.clear()
        # '-' is a separator, not a sign
        numbers = [to_float(item) for item in _DIGITS.findall(text)]
        bad: float | None = None
        for number in numbers:
            if number is None or number > TEMP_MAX_C:  # None: digits past a float's range
                bad = math.inf if number is None else number
                break
        temps = tuple(n if n is not None and 0 < n <= TEMP_MAX_C else None for n in numbers)
        values = _SENSOR_TEXT[text] = (temps, bad)
    return values


def _temp_list(value: Any, audit: Audit | None = None) -> list[float]:
    """``"73-45-64-65"`` (Antminer temp_pcb/temp_chip) -> [73, 45, 64, 65] (zeros dropped)."""
    if isinstance(value, str):
        temps, bad = _sensor_values(value)
        if bad is not None and audit is not None:
            audit.out_of_range("temperature", bad, " °C", TEMP_MIN_C)
        return [t for t in temps if t is not None]
    items: list[Any] = value if isinstance(value, list) else [value]
    found = [_temp(item, audit) for item in items]
    return [t for t in found if t is not None]


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


# --------------------------------------------------------------------------- reply access


class Replies:
    """The per-command replies of one poll, with error parts set aside."""

    def __init__(self, replies: Mapping[str, Any]) -> None:
        self.ok: dict[str, Mapping[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self._rows: dict[tuple[str, str], list[Row]] = {}
        for command, reply in replies.items():
            if isinstance(reply, list) and reply and isinstance(reply[0], Mapping):
                reply = reply[0]
            if not isinstance(reply, Mapping):
                continue
            head = reply.get("STATUS")
            if (  # the usual reply, cgminer's STATUS list with S/I/W: no parse needed
                type(head) is list
                and head
                and type(head[0]) is dict
                and head[0].get("STATUS") in _OK_LETTERS
            ):
                self.ok[command] = reply
                continue
            try:
                status = parse_status(reply)
            except CgminerProtocolError as exc:
                self.errors[command] = exc.reason
                continue
            if status.is_error:
                code = f" (code {status.code})" if status.code is not None else ""
                self.errors[command] = f"{status.msg or 'error'}{code}"
            else:
                self.ok[command] = reply

    def rows(self, command: str, section: str) -> list[Row]:
        key = (command, section)
        if key not in self._rows:
            reply = self.ok.get(command)
            self._rows[key] = [Row(r) for r in _section(reply, section)] if reply else []
        return self._rows[key]

    def first(self, command: str, section: str) -> Row | None:
        rows = self.rows(command, section)
        return rows[0] if rows else None

    def msg(self, command: str) -> Row | None:
        reply = self.ok.get(command)
        obj = message_object(reply) if reply else None
        return Row(obj) if obj else None

    def descriptions(self) -> list[str]:
        found: list[str] = []
        for reply in self.ok.values():
            head = reply.get("STATUS")
            if type(head) is list and head and type(head[0]) is dict:
                found.append(str(head[0].get("Description") or ""))
                continue
            try:
                found.append(parse_status(reply).description)
            except CgminerProtocolError:
                continue
        return found

    def devs(self) -> list[Row]:
        return self.rows("devs", "DEVS") or self.rows("edevs", "DEVS")

    def stats(self) -> list[Row]:
        return self.rows("stats", "STATS") or self.rows("estats", "STATS")


def _section(reply: Mapping[str, Any], section: str) -> list[Mapping[str, Any]]:
    """``codec.section_rows`` without the copies: rows are only read here."""
    value = reply.get(section)
    if isinstance(value, list):
        return [row for row in value if type(row) is dict or isinstance(row, Mapping)]
    return [value] if isinstance(value, Mapping) else []


# --------------------------------------------------------------------------- detection


def detect_family(replies: Mapping[str, Any] | Replies) -> str:
    """Which firmware family answered: antminer, whatsminer, braiins, cgminer or unknown."""
    r = replies if isinstance(replies, Replies) else Replies(replies)
    version = r.first("version", "VERSION")
    rows = [row for row in (version, *r.stats()[:1]) if row is not None]
    for row in rows:
        if row.get("BOSminer", "BOSer") is not None:
            return FAMILY_BRAIINS
    for row in rows:
        kind = str(row.get("Type") or "")
        if kind.lower().startswith("antminer") or row.get("BMMiner") is not None:
            return FAMILY_ANTMINER
    descriptions = " ".join(r.descriptions()).lower()
    if "boser" in descriptions or "bosminer" in descriptions:
        return FAMILY_BRAIINS
    summary = r.first("summary", "SUMMARY")
    if "get_version" in r.ok or "whatsminer" in descriptions:
        return FAMILY_WHATSMINER
    if summary is not None and any(
        summary.has(k) for k in ("Factory GHS", "Power_RT", "Fan Speed In", "Firmware Version")
    ):
        return FAMILY_WHATSMINER
    if version is not None and version.get("CGMiner") is not None:
        return FAMILY_CGMINER
    if summary is not None:
        return FAMILY_CGMINER
    return FAMILY_UNKNOWN


def _firmware_in_type(text: str) -> tuple[str, str | None]:
    """Aftermarket firmware names itself inside the model: "Antminer S19j Pro (Vnish 1.2.6)"
    is model "Antminer S19j Pro" on firmware "Vnish 1.2.6"."""
    match = _TYPE_FIRMWARE.fullmatch(text)
    return (match.group(1), match.group(2)) if match else (text, None)


_TYPE_FIRMWARE = re.compile(r"(.+?)\s*\(((?:vnish)\b[^()]*)\)\s*", re.IGNORECASE)


def detect_model(r: Replies, family: str | None = None) -> str | None:
    family = family or detect_family(r)
    for row in (r.first("version", "VERSION"), *r.stats()[:1]):
        if row is not None and row.get("Type"):
            return _firmware_in_type(str(row.get("Type")).strip())[0]
    details = r.first("devdetails", "DEVDETAILS")
    model = str(details.get("Model") or "").strip() if details else ""
    if family == FAMILY_WHATSMINER:
        if model and not model.lower().startswith("whatsminer"):
            return f"Whatsminer {model}"
        return model or "Whatsminer"
    return model or None


def detect_firmware(r: Replies) -> str | None:
    info = r.msg("get_version")
    if info is not None and info.get("fw_ver"):
        return str(info.get("fw_ver")).strip("'\" ")
    summary = r.first("summary", "SUMMARY")
    if summary is not None and summary.get("Firmware Version"):
        return str(summary.get("Firmware Version")).strip("'\" ")
    for row in (r.first("version", "VERSION"), *r.stats()[:1]):
        if row is None:
            continue
        named = _firmware_in_type(str(row.get("Type") or "").strip())[1]
        if named is not None:
            return named
        for name in _MINER_SOFTWARE:
            value = row.get(name)
            if value:
                text = f"{name} {value}".strip()
                build = row.get("Miner")
                return f"{text} ({build})" if build and name == "BMMiner" else text
    return None


# --------------------------------------------------------------------------- sections


@lru_cache(maxsize=64)
def _chain_keys(i: int) -> tuple[str, ...]:
    """Normalised STATS keys of chain ``i``: acn, acs, rate, pcb, chip, temp, temp2."""
    names = ("chain_acn", "chain_acs", "chain_rate", "temp_pcb", "temp_chip", "temp", "temp2_")
    return tuple(_NORM[f"{name}{i}"] for name in names)


def _chain_candidates(stats: Row) -> list[int]:
    """Chain numbers named by the row's keys (a question of the key set: cached on it)."""
    derived = stats.schema.derived
    ids = derived.get("chains")
    if ids is None:
        found = {
            int(match.group(1))
            for key in stats.schema.names
            if key.startswith("chain") and (match := _CHAIN_KEY.fullmatch(key))
        }
        ids = derived["chains"] = sorted(found)
    return ids


def _antminer_chain_ids(stats: Row) -> list[int]:
    present = []
    for i in _chain_candidates(stats):
        acn, acs, rate = _chain_keys(i)[:3]
        chips = to_int(stats.get_normalised(acn))
        text = stats.get_normalised(acs)
        if (
            chips
            or (isinstance(text, str) and text.strip())
            or to_float(stats.get_normalised(rate)) is not None
        ):
            present.append(i)
    return present


def _antminer_boards(
    stats: Row, chain_ids: list[int], model: str | None, audit: Audit
) -> list[Board]:
    factor = _unit_factor(stats.get("rate_unit"))
    expected = _expected_chips(model)
    boards: list[Board] = []
    get = stats.get_normalised
    for pos, i in enumerate(chain_ids):
        acn_key, acs_key, rate_key, pcb_key, chip_key, temp_key, temp2_key = _chain_keys(i)
        acs = get(acs_key)
        acn = _counter(get(acn_key), audit, "chip count", MAX_CHIPS)
        if isinstance(acs, str) and acs.strip():
            ok, failed = acs.count("o"), acs.lower().count("x")
        else:
            ok, failed = acn, None
        if failed is None and expected is not None and acn is not None:
            failed = max(expected - acn, 0)
        raw_rate = get(rate_key)
        rate = to_float(raw_rate)
        if rate is None and raw_rate is not None:
            audit.unreadable("hashrate", raw_rate)
        elif rate is not None:
            rate = audit.bounded("hashrate", rate * factor, MAX_HASHRATE_THS, unit=" TH/s")
        pcb = _temp_list(get(pcb_key), audit)
        chip = _temp_list(get(chip_key), audit)
        boards.append(
            Board(
                index=pos,
                chips_expected=expected,
                chips_ok=ok,
                chips_failed=failed,
                hashrate_ths=_round(rate),
                temp_board_c=max(pcb) if pcb else _temp(get(temp_key), audit),
                temp_chip_c=max(chip) if chip else _temp(get(temp2_key), audit),
            )
        )
    return boards


def _antminer_air_temps(stats: Row, chain_ids: list[int]) -> tuple[float | None, float | None]:
    """Stock Antminers report no air sensors; S19-family ``temp_pcbN`` strings are
    in-in-out-out, so inlet/outlet are the PCB sensors at the intake and exhaust edges."""
    inlet: list[float] = []
    outlet: list[float] = []
    for i in chain_ids:
        raw = stats.get_normalised(_chain_keys(i)[3])
        temps = _sensor_values(raw)[0] if isinstance(raw, str) else ()
        if len(temps) == 4:
            inlet += [t for t in temps[:2] if t is not None]
            outlet += [t for t in temps[2:] if t is not None]
    return (min(inlet) if inlet else None, max(outlet) if outlet else None)


@lru_cache(maxsize=256)
def _expected_chips(model: str | None) -> int | None:
    if not model:
        return None
    name = re.sub(r"^antminer\s+", "", model.strip(), flags=re.IGNORECASE)
    for key, chips in ANTMINER_CHIPS_PER_BOARD.items():
        if name.lower() == key.lower():
            return chips
    return None


def _dev_boards(devs: list[Row], details: list[Row], temps: list[Row], audit: Audit) -> list[Board]:
    boards: list[Board] = []
    for pos, dev in enumerate(devs):
        detail = details[pos] if pos < len(details) else None
        temp = temps[pos] if pos < len(temps) else None
        chips = _counter(dev.get("Effective Chips"), audit, "chip count", MAX_CHIPS)
        if chips is None and detail is not None:
            chips = _counter(detail.get("Chips"), audit, "chip count", MAX_CHIPS)
        board_t = _temp(temp.get("Board"), audit) if temp else None
        chip_t = _temp(temp.get("Chip"), audit) if temp else None
        index = to_int(dev.get("Slot", "ASC", "PGA", "GPU", "ID"))
        boards.append(
            Board(
                index=pos if index is None else index,
                chips_expected=None,
                chips_ok=chips,
                chips_failed=None,
                hashrate_ths=_round(
                    hashrate_ths(dev, "5s", audit) or hashrate_ths(dev, "av", audit)
                ),
                temp_board_c=board_t
                if board_t is not None
                else _temp(dev.get("Temperature"), audit),
                temp_chip_c=chip_t
                if chip_t is not None
                else _temp(dev.get("Chip Temp Max", "Chip Temp", "Temperature Chip"), audit),
            )
        )
    return boards


_POOL_KEYS = tuple(
    _NORM[k]
    for k in (
        "URL",
        "User",
        "Stratum Active",
        "Status",
        "Priority",
        "Accepted",
        "Rejected",
        "Stale",
    )
)


def _pools(r: Replies, audit: Audit) -> list[Pool]:
    pools: list[Pool] = []
    any_stratum = False
    k_url, k_user, k_stratum, k_status, k_priority, k_acc, k_rej, k_stale = _POOL_KEYS
    for row in r.rows("pools", "POOLS"):
        get = row.get_normalised
        url = str(get(k_url) or "").strip()[:MAX_TEXT]
        user = get(k_user)
        if _is_synthetic_pool(url, user):
            continue
        active = bool(to_bool(get(k_stratum)))
        any_stratum = any_stratum or active
        status = get(k_status)
        pools.append(
            Pool(
                url=url,
                user=str(user)[:MAX_TEXT] if user is not None else None,
                status=str(status).strip().lower()[:MAX_TEXT] if status is not None else None,
                active=active,
                priority=to_int(get(k_priority)),
                accepted=_counter(get(k_acc), audit, "pool shares"),
                rejected=_counter(get(k_rej), audit, "pool shares"),
                stale=_counter(get(k_stale), audit, "pool shares"),
            )
        )
    pools.sort(key=lambda p: (p.priority is None, p.priority if p.priority is not None else 0))
    if not any_stratum:  # no stratum flag: cgminer failover uses the best alive pool
        for pool in pools:
            if pool.status == "alive":
                pool.active = True
                break
    return pools


def _is_synthetic_pool(url: str, user: Any) -> bool:
    text = f"{url} {user or ''}".lower()
    if any(word in text for word in _SYNTHETIC_POOLS):
        return True
    return "://" not in url and ":" not in url  # not a host: benchmark/placeholder rows


# --------------------------------------------------------------------------- entry point


def normalize(replies: Mapping[str, Any]) -> MinerSnapshot:
    """Build a snapshot from ``{command: reply}`` (error parts are tolerated and ignored): any
    reply, hostile ones included. The pollers call ``shape_reader.read_snapshot``, which reads a
    sane reply faster and hands everything else to this."""
    r = Replies(replies)
    summary = r.first("summary", "SUMMARY")
    stats_rows = r.stats()
    devs = r.devs()
    if summary is None and not devs and len(stats_rows) == 0:
        reasons = "; ".join(f"{cmd}: {why}" for cmd, why in r.errors.items())
        return MinerSnapshot.failed(reasons or "miner returned no usable data")

    audit = Audit()
    family = detect_family(r)
    model = _text(detect_model(r, family))
    stats = _chain_stats(stats_rows)
    summary = summary or Row({})

    chain_ids = _antminer_chain_ids(stats) if stats is not None else []
    boards: list[Board] = []
    if stats is not None:
        boards = _antminer_boards(stats, chain_ids, model, audit)
    if not boards and family != FAMILY_ANTMINER:
        details, temps = r.rows("devdetails", "DEVDETAILS"), r.rows("temps", "TEMPS")
        boards = _dev_boards(devs, details, temps, audit)

    # Each reading comes from the first source that has it; once a source is flagged the
    # field stays unknown (another source does not paper over an impossible value).
    clean = audit.mark()
    rate_5s = hashrate_ths(summary, "5s", audit)
    if rate_5s is None and stats is not None and audit.clean_since(clean):
        rate_5s = hashrate_ths(stats, "5s", audit)
    if (
        rate_5s is None
        and boards
        and audit.clean_since(clean)
        and all(b.hashrate_ths is not None for b in boards)
    ):
        boards_sum = sum(b.hashrate_ths or 0.0 for b in boards)
        rate_5s = audit.bounded("hashrate", boards_sum, MAX_HASHRATE_THS, unit=" TH/s")
    clean = audit.mark()
    rate_avg = hashrate_ths(summary, "av", audit)
    if rate_avg is None and stats is not None and audit.clean_since(clean):
        rate_avg = hashrate_ths(stats, "av", audit)

    power = _power(r, summary, stats, chain_ids, audit)
    basis = rate_avg if rate_avg else rate_5s
    efficiency = power / basis if power and basis else None

    inlet, outlet = _antminer_air_temps(stats, chain_ids) if stats is not None else (None, None)
    env = _temp(summary.get("Env Temp", "Inlet Temp", "Temp Inlet"), audit)
    inlet = env if env is not None else inlet
    out_air = _temp(summary.get("Outlet Temp", "Temp Outlet"), audit)
    outlet = out_air if out_air is not None else outlet

    board_max = _max(
        [
            *(b.temp_board_c for b in boards),
            _temp(summary.get("Temperature"), audit),
            *(_temp(d.get("Temperature"), audit) for d in devs if family != FAMILY_ANTMINER),
        ]
    )
    chip_max = _max([*(b.temp_chip_c for b in boards), _temp(summary.get("Chip Temp Max"), audit)])

    snapshot = MinerSnapshot(
        status="online",
        model=model,
        firmware=_text(detect_firmware(r)),
        hashrate_ths=_round(rate_5s),
        hashrate_avg_ths=_round(rate_avg),
        hashrate_expected_ths=_round(_expected_hashrate(summary, stats, audit)),
        power_w=_round(power, 1),
        efficiency_jth=_round(efficiency, 2),
        temp_inlet_c=inlet,
        temp_outlet_c=outlet,
        temp_board_max_c=board_max,
        temp_chip_max_c=chip_max,
        fans_rpm=_fans(r, summary, stats, devs, audit),
        boards=boards,
        pools=_pools(r, audit),
        accepted=_count(summary, devs, "Accepted", audit, "accepted shares"),
        rejected=_count(summary, devs, "Rejected", audit, "rejected shares"),
        hardware_errors=_count(summary, devs, "Hardware Errors", audit, "hardware errors"),
        uptime_s=_uptime(summary, stats, audit),
    )
    suspect = audit.reason()
    if suspect is not None:  # it answered, but with readings no miner can produce
        snapshot.status = "error"
        snapshot.error = suspect
    elif _is_sleeping(r, snapshot, devs):
        snapshot.status = "sleeping"
    return snapshot


def _text(value: str | None) -> str | None:
    return value[:MAX_TEXT] if value is not None and len(value) > MAX_TEXT else value


def _uptime(summary: Row, stats: Row | None, audit: Audit) -> int | None:
    for value in (
        summary.get("Elapsed"),
        stats.get("Elapsed") if stats else None,
        summary.get("Uptime"),
    ):
        if value is None:
            continue
        seconds = parse_duration_s(value)
        if seconds is None:
            audit.unreadable("uptime", value)
            return None
        return audit.count("uptime", seconds, MAX_UPTIME_S)
    return None


def _chain_stats(stats_rows: list[Row]) -> Row | None:
    """The STATS row that carries miner-level data (Antminer's second object)."""
    for row in stats_rows:
        derived = row.schema.derived
        shaped = derived.get("chain_shaped")
        if shaped is None:
            prefixes = ("chainacn", "chainrate", "fan", "temp")
            shaped = derived["chain_shaped"] = any(k.startswith(prefixes) for k in row.names())
        if shaped:
            return row
        if hashrate_ths(row, "5s") is not None:
            return row
    return None


def _power(
    r: Replies, summary: Row, stats: Row | None, chain_ids: list[int], audit: Audit
) -> float | None:
    """Watts; 0 means not measured (as every firmware we know reports it)."""
    clean = audit.mark()
    power = _num(summary, audit, "power", "Power", "Power_RT", "Input Power")
    tuner = r.first("tunerstatus", "TUNERSTATUS")
    if power is None and tuner is not None and audit.clean_since(clean):
        power = _num(tuner, audit, "power", "ApproximateMinerPowerConsumption")
    if power is None and stats is not None and audit.clean_since(clean):
        power = _num(stats, audit, "power", "total_power", "Power", "power")
        if power is None and audit.clean_since(clean):
            chains = [_num(stats, audit, "power", f"chain_power{i}") for i in chain_ids]
            if chains and all(c is not None for c in chains):
                power = sum(c or 0.0 for c in chains)
    return audit.bounded("power", power, MAX_POWER_W, unit=" W") if power else None


def _expected_hashrate(summary: Row, stats: Row | None, audit: Audit) -> float | None:
    """The rate the miner should make (0 means not stated, like an absent key)."""
    expected: float | None = None
    if stats is not None:
        ideal = _num(stats, audit, "hashrate", "total_rateideal", "rate_ideal")
        if ideal:
            expected = ideal * _unit_factor(stats.get("rate_unit"))
    if not expected:
        factory = _num(summary, audit, "hashrate", "Factory GHS")
        expected = factory * _TO_THS["g"] if factory else None
    if not expected:
        for prefix in ("t", "g", "m"):
            value = _num(summary, audit, "hashrate", f"Expected {prefix}HS", f"{prefix}HS Expected")
            if value:
                expected = value * _TO_THS[prefix]
                break
    return audit.bounded("hashrate", expected, MAX_HASHRATE_THS, unit=" TH/s")


def _fans(r: Replies, summary: Row, stats: Row | None, devs: list[Row], audit: Audit) -> list[int]:
    """Fan speeds in rpm; impossible ones are left out (and noted)."""
    fans_rows = r.rows("fans", "FANS")
    if fans_rows:
        speeds = (_counter(f.get("RPM"), audit, "fan speed", MAX_FAN_RPM) for f in fans_rows)
        return [rpm for rpm in speeds if rpm is not None]
    for source in (summary, *devs[:1]):
        pair = [
            _counter(source.get("Fan Speed In"), audit, "fan speed", MAX_FAN_RPM),
            _counter(source.get("Fan Speed Out"), audit, "fan speed", MAX_FAN_RPM),
        ]
        if any(p is not None for p in pair):
            return [p for p in pair if p is not None]
    if stats is None:
        return []
    count = to_int(stats.get("fan_num"))
    ids = stats.schema.derived.get("fans")
    if ids is None:
        ids = stats.schema.derived["fans"] = sorted(
            int(m.group(1))
            for k in stats.names()
            if k.startswith("fan") and (m := _FAN_KEY.fullmatch(k))
        )
    if count is not None:  # fan_num says how many exist: a 0 rpm among them is a stopped fan
        speeds: list[int] = []
        for i in ids[: max(count, 0)]:
            raw = stats.get(f"fan{i}")
            rpm = _counter(raw, audit, "fan speed", MAX_FAN_RPM)
            if rpm is not None or raw is None:
                speeds.append(rpm or 0)
        return speeds
    return [
        rpm for i in ids if (rpm := _counter(stats.get(f"fan{i}"), audit, "fan speed", MAX_FAN_RPM))
    ]


def _count(summary: Row, devs: list[Row], key: str, audit: Audit, what: str) -> int | None:
    raw = summary.get(key)
    if raw is not None:
        return _counter(raw, audit, what)
    counts = [_counter(d.get(key), audit, what) for d in devs]
    if not any(c is not None for c in counts):
        return None
    return audit.count(what, sum(c for c in counts if c is not None))


def _is_sleeping(r: Replies, snapshot: MinerSnapshot, devs: list[Row]) -> bool:
    """Only explicit signals: every device disabled, or Whatsminer's ``btmineroff``."""
    if snapshot.hashrate_ths not in (None, 0.0):
        return False
    state = r.msg("status")
    if state is not None and to_bool(state.get("btmineroff")):
        return True
    return bool(devs) and all(to_bool(d.get("Enabled")) is False for d in devs)
