"""``normalize`` for a sane reply, in one tight pass over the raw dicts.

A fleet sends a handful of reply shapes (every S19 the same 90 STATS keys), so the questions
``normalize`` asks of key names (which of ``GHS 5s``/``MHS 5s`` is there, which chains, which
fans) are answered once per key set (``RowKeys``, kept on the row's ``Schema``) and the
miner's identity (family, model, firmware: the same strings every sweep) once per distinct
identity. What is left per miner is reading a few dozen values by their own keys.

It handles only what a healthy miner sends. Any value ``normalize`` would question (not a
number, out of range, an error part it cannot read, a message object) makes it give up
(``None``) and the general path in ``normalize.py`` reads the reply instead, so a hostile
reply costs what it did and a sane one gives the very same snapshot (a test compares the two
on every family, every capture and mutated replies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.fleet.codec import CgminerProtocolError, parse_status
from backend.fleet.normalize import (
    _CHAIN_KEY,
    _FAN_KEY,
    _MINER_SOFTWARE,
    _NORM,
    _OK_LETTERS,
    _SCHEMAS,
    _TO_THS,
    FAMILY_ANTMINER,
    MAX_TEXT,
    Board,
    MinerSnapshot,
    Pool,
    Replies,
    Schema,
    _chain_keys,
    _expected_chips,
    _is_synthetic_pool,
    _schema,
    _sensor_values,
    _text,
    _unit_factor,
    detect_family,
    detect_firmware,
    detect_model,
    normalize,
    parse_duration_s,
    to_bool,
    to_float,
    to_int,
)
from backend.fleet.plausible import (
    MAX_CHIPS,
    MAX_COUNT,
    MAX_FAN_RPM,
    MAX_HASHRATE_THS,
    MAX_POWER_W,
    MAX_UPTIME_S,
    TEMP_MAX_C,
    TEMP_MIN_C,
)

_PREFIXES = ("t", "g", "m", "k", "p")
# Names whose values say who the miner is (see detect_family/model/firmware).
_IDENTITY_NAMES = ("BOSminer", "BOSer", "Type", "BMMiner", "CGMiner", "Miner", *_MINER_SOFTWARE)
_IDENTITIES: dict[tuple[Any, ...], tuple[str, str | None, str | None]] = {}
_MAX_IDENTITIES = 4096
_SYNTHETIC: dict[tuple[str, Any], bool] = {}  # (url, user) -> a DevFee/placeholder row


class _Bail(Exception):
    """A value ``normalize`` would question: leave this reply to the general path."""


_BAIL = _Bail()


class RowKeys:
    """For one key set, the row's own key for each reading ``normalize`` takes from it.

    Multi-name readings are tuples in ``Row.get``'s order (first present value wins).
    """

    __slots__ = (
        "accepted",
        "board",
        "chain_shaped",
        "chains",
        "chip",
        "chip_temp",
        "chip_temp_max",
        "chips",
        "effective_chips",
        "elapsed",
        "enabled",
        "env",
        "expected",
        "factory",
        "fan_in",
        "fan_num",
        "fan_out",
        "fans",
        "firmware_version",
        "hw",
        "ideal",
        "identity",
        "index",
        "model",
        "outlet",
        "pool",
        "power",
        "rate_5s",
        "rate_av",
        "rate_unit",
        "rejected",
        "rpm",
        "stats_power",
        "temperature",
        "tuner_power",
        "uptime",
    )

    def __init__(self, schema: Schema) -> None:
        known = schema.key

        def keys(*names: str) -> tuple[Any, ...]:
            found = (known.get(_NORM[name]) for name in names)
            return tuple(dict.fromkeys(k for k in found if k is not None))

        def rate(window: str) -> tuple[tuple[Any, float], ...]:
            pairs = ((known.get(_NORM[f"{p}hs {window}"]), _TO_THS[p]) for p in _PREFIXES)
            return tuple((k, factor) for k, factor in pairs if k is not None)

        self.rate_5s, self.rate_av = rate("5s"), rate("av")
        self.power = keys("Power", "Power_RT", "Input Power")
        self.tuner_power = keys("ApproximateMinerPowerConsumption")
        self.stats_power = keys("total_power", "Power", "power")
        self.env = keys("Env Temp", "Inlet Temp", "Temp Inlet")
        self.outlet = keys("Outlet Temp", "Temp Outlet")
        self.temperature = keys("Temperature")
        self.chip_temp_max = keys("Chip Temp Max")
        self.chip_temp = keys("Chip Temp Max", "Chip Temp", "Temperature Chip")
        self.ideal = keys("total_rateideal", "rate_ideal")
        self.rate_unit = keys("rate_unit")
        self.factory = keys("Factory GHS")
        self.expected = tuple(
            (keys(f"Expected {p}HS", f"{p}HS Expected"), _TO_THS[p]) for p in ("t", "g", "m")
        )
        self.fan_in, self.fan_out = keys("Fan Speed In"), keys("Fan Speed Out")
        self.fan_num = keys("fan_num")
        self.accepted, self.rejected = keys("Accepted"), keys("Rejected")
        self.hw = keys("Hardware Errors")
        self.elapsed, self.uptime = keys("Elapsed"), keys("Uptime")
        self.effective_chips, self.chips = keys("Effective Chips"), keys("Chips")
        self.index = keys("Slot", "ASC", "PGA", "GPU", "ID")
        self.board, self.chip, self.rpm = keys("Board"), keys("Chip"), keys("RPM")
        self.enabled = keys("Enabled")
        self.model = keys("Model")
        self.firmware_version = keys("Firmware Version")
        self.identity = tuple(
            dict.fromkeys(k for n in _IDENTITY_NAMES if (k := known.get(_NORM[n])) is not None)
        )
        self.pool = tuple(
            known.get(_NORM[name])
            for name in (
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
        names = schema.names
        prefixes = ("chainacn", "chainrate", "fan", "temp")
        self.chain_shaped = any(k.startswith(prefixes) for k in names)
        fan_ids = sorted(
            int(m.group(1)) for k in names if k.startswith("fan") and (m := _FAN_KEY.fullmatch(k))
        )
        self.fans = tuple(known.get(_NORM[f"fan{i}"]) for i in fan_ids)
        chain_ids = sorted(
            {
                int(m.group(1))
                for k in names
                if k.startswith("chain") and (m := _CHAIN_KEY.fullmatch(k))
            }
        )
        self.chains = tuple(
            (
                *(known.get(name) for name in _chain_keys(i)),
                known.get(_NORM[f"chain_power{i}"]),
            )
            for i in chain_ids
        )


_EMPTY = RowKeys(Schema(()))


def _keys(row: dict[str, Any]) -> RowKeys:
    names = tuple(row)
    schema = _SCHEMAS.get(names) or _schema(names)
    found = schema.reader
    if found is None:
        found = schema.reader = RowKeys(schema)
    return found


def _get(row: Mapping[str, Any], keys: tuple[Any, ...]) -> Any:
    """``Row.get``: the first value that is there (None and "" are not)."""
    for key in keys:
        value = row[key]
        if value is not None and (value or value.__class__ is not str):
            return value
    return None


def _number(raw: Any) -> float | None:
    """``_num``'s reading: None when absent; a value that is no number bails."""
    if raw is None:
        return None
    number = to_float(raw)
    if number is None:
        raise _BAIL
    return number


def _count(raw: Any, high: int = MAX_COUNT) -> int | None:
    """``_counter`` without a note: anything but a whole number in [0, high] bails."""
    if raw is None:
        return None
    value = raw if raw.__class__ is int else to_int(raw)
    if value is None or not 0 <= value <= high:
        raise _BAIL
    return value


def _temp(raw: Any) -> float | None:
    if raw is None:
        return None
    number = to_float(raw)
    if number is None:
        raise _BAIL
    if 0 < number <= TEMP_MAX_C:
        return number
    if not TEMP_MIN_C <= number <= TEMP_MAX_C:
        raise _BAIL
    return None


def _temp_list(raw: Any) -> list[float]:
    if isinstance(raw, str):
        temps, bad = _sensor_values(raw)
        if bad is not None:
            raise _BAIL
        return [t for t in temps if t is not None]
    found = [_temp(item) for item in (raw if isinstance(raw, list) else [raw])]
    return [t for t in found if t is not None]


def _rate(row: Mapping[str, Any], pairs: tuple[tuple[Any, float], ...]) -> float | None:
    """``hashrate_ths`` with an audit: the first spelling present, in TH/s, or bail."""
    for key, factor in pairs:
        raw = row[key]
        if raw is None or (raw.__class__ is str and not raw):
            continue
        number = to_float(raw)
        if number is None:
            raise _BAIL
        number *= factor
        if not 0.0 <= number <= MAX_HASHRATE_THS:
            raise _BAIL
        return number
    return None


def _any_rate(row: Mapping[str, Any], pairs: tuple[tuple[Any, float], ...]) -> bool:
    """``hashrate_ths(row, "5s") is not None`` without an audit (unreadable spellings skip)."""
    for key, _factor in pairs:
        raw = row[key]
        if raw is not None and (raw or raw.__class__ is not str) and to_float(raw) is not None:
            return True
    return False


def _bounded(value: float | None, high: float) -> float | None:
    if value is None or 0.0 <= value <= high:
        return value
    raise _BAIL


def _rows(ok: dict[str, dict[str, Any]], command: str, section: str) -> list[dict[str, Any]]:
    reply = ok.get(command)
    if reply is None:
        return []
    value = reply.get(section)
    if value.__class__ is list:
        rows = [row for row in value if row.__class__ is dict]
        if len(rows) != len(value):
            raise _BAIL  # other items: the general path filters them
        return rows
    if value.__class__ is dict:
        return [value]
    if isinstance(value, Mapping):
        raise _BAIL
    return []


def _identity(
    replies: Mapping[str, Any],
    ok: dict[str, dict[str, Any]],
    descriptions: tuple[Any, ...],
    summary: dict[str, Any] | None,
    summary_keys: RowKeys,
    stats0: dict[str, Any] | None,
    stats0_keys: RowKeys,
) -> tuple[str, str | None, str | None]:
    """(family, model, firmware), asked of ``detect_*`` once per distinct identity."""
    version = _rows(ok, "version", "VERSION")[:1]
    details = _rows(ok, "devdetails", "DEVDETAILS")[:1]
    parts: list[Any] = [tuple(ok), descriptions, summary_keys]
    if summary is not None:
        parts.append(_get(summary, summary_keys.firmware_version))
    for row in (version[0] if version else None, stats0, details[0] if details else None):
        if row is None:
            parts.append(None)
            continue
        keys = stats0_keys if row is stats0 else _keys(row)
        parts.append(keys)
        parts.extend(row[k] for k in keys.identity)
        parts.append(_get(row, keys.model))
    key = tuple(parts)
    try:
        found = _IDENTITIES.get(key)
    except TypeError:  # a list or an object where a name belongs
        raise _BAIL from None
    if found is None:
        r = Replies(replies)
        family = detect_family(r)
        found = (family, _text(detect_model(r, family)), _text(detect_firmware(r)))
        if len(_IDENTITIES) >= _MAX_IDENTITIES:
            _IDENTITIES.clear()
        _IDENTITIES[key] = found
    return found


def read_snapshot(replies: Mapping[str, Any]) -> MinerSnapshot:
    """The miner's snapshot from ``{command: reply}``: this pass for a sane reply, the general
    ``normalize`` for anything else (the pollers' one way in)."""
    snapshot = read(replies)
    return snapshot if snapshot is not None else normalize(replies)


def read(replies: Mapping[str, Any]) -> MinerSnapshot | None:
    """The snapshot ``normalize`` would build, or None to leave the reply to it."""
    try:
        return _read(replies)
    except _Bail:
        return None


def _read(replies: Mapping[str, Any]) -> MinerSnapshot | None:
    if "get_version" in replies or "status" in replies:  # message objects: general path
        return None
    ok: dict[str, dict[str, Any]] = {}
    descriptions: list[Any] = []
    for command, reply in replies.items():
        if reply.__class__ is not dict:
            return None
        head = reply.get("STATUS")
        if head.__class__ is list and head and head[0].__class__ is dict:
            first = head[0]
            if first.get("STATUS") in _OK_LETTERS:
                ok[command] = reply
                descriptions.append(str(first.get("Description") or ""))
                continue
        try:
            status = parse_status(reply)
        except CgminerProtocolError:
            continue
        if not status.is_error:
            ok[command] = reply
            descriptions.append(status.description)

    summaries = _rows(ok, "summary", "SUMMARY")
    stats_rows = _rows(ok, "stats", "STATS") or _rows(ok, "estats", "STATS")
    devs = _rows(ok, "devs", "DEVS") or _rows(ok, "edevs", "DEVS")
    if not summaries and not devs and not stats_rows:
        return None
    summary: dict[str, Any] = summaries[0] if summaries else {}
    sk = _keys(summary) if summaries else _EMPTY
    stats_keys = [_keys(row) for row in stats_rows]
    dev_keys = [_keys(dev) for dev in devs]
    family, model, firmware = _identity(
        replies,
        ok,
        tuple(descriptions),
        summaries[0] if summaries else None,
        sk,
        stats_rows[0] if stats_rows else None,
        stats_keys[0] if stats_keys else _EMPTY,
    )

    stats: dict[str, Any] | None = None
    tk = _EMPTY
    for row, keys in zip(stats_rows, stats_keys, strict=True):
        if keys.chain_shaped or _any_rate(row, keys.rate_5s):
            stats, tk = row, keys
            break

    # chains present: (position's keys) as _antminer_chain_ids decides
    chains: list[tuple[Any, ...]] = []
    boards: list[Board] = []
    if stats is not None:
        for chain in tk.chains:
            acn_k, acs_k, rate_k = chain[0], chain[1], chain[2]
            chips = to_int(_value(stats, acn_k))
            text = _value(stats, acs_k)
            if (
                chips
                or (isinstance(text, str) and text.strip())
                or to_float(_value(stats, rate_k)) is not None
            ):
                chains.append(chain)
        if chains:
            factor = _unit_factor(_get(stats, tk.rate_unit))
            expected = _expected_chips(model)
            for pos, (acn_k, acs_k, rate_k, pcb_k, chip_k, temp_k, temp2_k, _pw) in enumerate(
                chains
            ):
                acs = _value(stats, acs_k)
                acn = _count(_value(stats, acn_k), MAX_CHIPS)
                if isinstance(acs, str) and acs.strip():
                    chips_ok, failed = acs.count("o"), acs.lower().count("x")
                else:
                    chips_ok, failed = acn, None
                if failed is None and expected is not None and acn is not None:
                    failed = max(expected - acn, 0)
                rate = _number(_value(stats, rate_k))
                if rate is not None:
                    rate = _bounded(rate * factor, MAX_HASHRATE_THS)
                pcb = _temp_list(_value(stats, pcb_k))
                chip = _temp_list(_value(stats, chip_k))
                boards.append(
                    Board(
                        pos,
                        expected,
                        chips_ok,
                        failed,
                        None if rate is None else round(rate, 6),
                        max(pcb) if pcb else _temp(_value(stats, temp_k)),
                        max(chip) if chip else _temp(_value(stats, temp2_k)),
                    )
                )
    if not boards and family != FAMILY_ANTMINER and devs:
        details = _rows(ok, "devdetails", "DEVDETAILS")
        temps = _rows(ok, "temps", "TEMPS")
        for pos, (dev, dk) in enumerate(zip(devs, dev_keys, strict=True)):
            chips = _count(_get(dev, dk.effective_chips), MAX_CHIPS)
            if chips is None and pos < len(details):
                detail = details[pos]
                chips = _count(_get(detail, _keys(detail).chips), MAX_CHIPS)
            board_t = chip_t = None
            if pos < len(temps):
                temp = temps[pos]
                mk = _keys(temp)
                board_t, chip_t = _temp(_get(temp, mk.board)), _temp(_get(temp, mk.chip))
            index = to_int(_get(dev, dk.index))
            rate = _rate(dev, dk.rate_5s) or _rate(dev, dk.rate_av)
            boards.append(
                Board(
                    pos if index is None else index,
                    None,
                    chips,
                    None,
                    None if rate is None else round(rate, 6),
                    board_t if board_t is not None else _temp(_get(dev, dk.temperature)),
                    chip_t if chip_t is not None else _temp(_get(dev, dk.chip_temp)),
                )
            )

    rate_5s = _rate(summary, sk.rate_5s)
    if rate_5s is None and stats is not None:
        rate_5s = _rate(stats, tk.rate_5s)
    if rate_5s is None and boards and all(b.hashrate_ths is not None for b in boards):
        rate_5s = _bounded(sum(b.hashrate_ths or 0.0 for b in boards), MAX_HASHRATE_THS)
    rate_avg = _rate(summary, sk.rate_av)
    if rate_avg is None and stats is not None:
        rate_avg = _rate(stats, tk.rate_av)

    # power (see _power): summary, tuner, stats, then the chains' sum
    power = _number(_get(summary, sk.power))
    if power is None:
        tuners = _rows(ok, "tunerstatus", "TUNERSTATUS")
        if tuners:
            tuner = tuners[0]
            power = _number(_get(tuner, _keys(tuner).tuner_power))
    if power is None and stats is not None:
        power = _number(_get(stats, tk.stats_power))
        if power is None and chains:
            parts = [_number(_value(stats, chain[7])) for chain in chains]
            if all(p is not None for p in parts):
                power = sum(p or 0.0 for p in parts)
    power = _bounded(power, MAX_POWER_W) if power else None
    basis = rate_avg if rate_avg else rate_5s
    efficiency = power / basis if power and basis else None

    inlet = outlet = None
    if stats is not None:
        ins: list[float] = []
        outs: list[float] = []
        for chain in chains:
            raw = _value(stats, chain[3])
            temps4 = _sensor_values(raw)[0] if isinstance(raw, str) else ()
            if len(temps4) == 4:
                ins += [t for t in temps4[:2] if t is not None]
                outs += [t for t in temps4[2:] if t is not None]
        inlet, outlet = (min(ins) if ins else None), (max(outs) if outs else None)
    env = _temp(_get(summary, sk.env))
    if env is not None:
        inlet = env
    out_air = _temp(_get(summary, sk.outlet))
    if out_air is not None:
        outlet = out_air

    highs = [b.temp_board_c for b in boards if b.temp_board_c is not None]
    value = _temp(_get(summary, sk.temperature))
    if value is not None:
        highs.append(value)
    if family != FAMILY_ANTMINER:
        for dev, dk in zip(devs, dev_keys, strict=True):
            value = _temp(_get(dev, dk.temperature))
            if value is not None:
                highs.append(value)
    chip_highs = [b.temp_chip_c for b in boards if b.temp_chip_c is not None]
    value = _temp(_get(summary, sk.chip_temp_max))
    if value is not None:
        chip_highs.append(value)

    expected_rate: float | None = None
    if stats is not None:
        ideal = _number(_get(stats, tk.ideal))
        if ideal:
            expected_rate = ideal * _unit_factor(_get(stats, tk.rate_unit))
    if not expected_rate:
        factory = _number(_get(summary, sk.factory))
        expected_rate = factory * _TO_THS["g"] if factory else None
    if not expected_rate:
        for names, factor in sk.expected:
            value = _number(_get(summary, names))
            if value:
                expected_rate = value * factor
                break
    expected_rate = _bounded(expected_rate, MAX_HASHRATE_THS)

    hashrate = None if rate_5s is None else round(rate_5s, 6)
    snapshot = MinerSnapshot(
        "online",
        model,
        firmware,
        hashrate,
        None if rate_avg is None else round(rate_avg, 6),
        None if expected_rate is None else round(expected_rate, 6),
        None if power is None else round(power, 1),
        None if efficiency is None else round(efficiency, 2),
        inlet,
        outlet,
        max(highs) if highs else None,
        max(chip_highs) if chip_highs else None,
        _fans(ok, summary, sk, stats, tk, devs, dev_keys),
        boards,
        _pools(ok),
        _total(summary, sk.accepted, devs, dev_keys, "accepted"),
        _total(summary, sk.rejected, devs, dev_keys, "rejected"),
        _total(summary, sk.hw, devs, dev_keys, "hw"),
        _uptime(summary, sk, stats, tk),
    )
    if (  # _is_sleeping: no hashrate and every device disabled
        hashrate in (None, 0.0)
        and devs
        and all(to_bool(_get(d, k.enabled)) is False for d, k in zip(devs, dev_keys, strict=True))
    ):
        snapshot.status = "sleeping"
    return snapshot


def _value(row: Mapping[str, Any], key: Any) -> Any:
    """``Row.get_normalised`` for a key already resolved (None: the row has no such key)."""
    if key is None:
        return None
    value = row[key]
    return value if value is not None and (value or value.__class__ is not str) else None


def _fans(
    ok: dict[str, dict[str, Any]],
    summary: dict[str, Any],
    sk: RowKeys,
    stats: dict[str, Any] | None,
    tk: RowKeys,
    devs: list[dict[str, Any]],
    dev_keys: list[RowKeys],
) -> list[int]:
    fans_rows = _rows(ok, "fans", "FANS")
    if fans_rows:
        speeds = (_count(_get(f, _keys(f).rpm), MAX_FAN_RPM) for f in fans_rows)
        return [rpm for rpm in speeds if rpm is not None]
    sources = [(summary, sk)]
    if devs:
        sources.append((devs[0], dev_keys[0]))
    for source, keys in sources:
        pair = (
            _count(_get(source, keys.fan_in), MAX_FAN_RPM),
            _count(_get(source, keys.fan_out), MAX_FAN_RPM),
        )
        if pair[0] is not None or pair[1] is not None:
            return [p for p in pair if p is not None]
    if stats is None:
        return []
    count = to_int(_get(stats, tk.fan_num))
    if count is not None:  # fan_num says how many exist: a 0 rpm among them is a stopped fan
        speeds_now: list[int] = []
        for key in tk.fans[: max(count, 0)]:
            raw = _value(stats, key)
            rpm = _count(raw, MAX_FAN_RPM)
            if rpm is not None or raw is None:
                speeds_now.append(rpm or 0)
        return speeds_now
    return [rpm for key in tk.fans if (rpm := _count(_value(stats, key), MAX_FAN_RPM))]


def _pools(ok: dict[str, dict[str, Any]]) -> list[Pool]:
    pools: list[Pool] = []
    any_stratum = False
    for row in _rows(ok, "pools", "POOLS"):
        k_url, k_user, k_stratum, k_status, k_priority, k_acc, k_rej, k_stale = _keys(row).pool
        url = str(_value(row, k_url) or "").strip()[:MAX_TEXT]
        user = _value(row, k_user)
        if user is not None and user.__class__ is not str:
            raise _BAIL  # a number, a list or an object for a user name
        synthetic = _SYNTHETIC.get((url, user))
        if synthetic is None:
            if len(_SYNTHETIC) >= _MAX_IDENTITIES:
                _SYNTHETIC.clear()
            synthetic = _SYNTHETIC[url, user] = _is_synthetic_pool(url, user)
        if synthetic:
            continue
        active = bool(to_bool(_value(row, k_stratum)))
        any_stratum = any_stratum or active
        status = _value(row, k_status)
        pools.append(
            Pool(
                url,
                str(user)[:MAX_TEXT] if user is not None else None,
                str(status).strip().lower()[:MAX_TEXT] if status is not None else None,
                active,
                to_int(_value(row, k_priority)),
                _count(_value(row, k_acc)),
                _count(_value(row, k_rej)),
                _count(_value(row, k_stale)),
            )
        )
    if len(pools) > 1:
        pools.sort(key=lambda p: (p.priority is None, p.priority if p.priority is not None else 0))
    if not any_stratum:  # no stratum flag: cgminer failover uses the best alive pool
        for pool in pools:
            if pool.status == "alive":
                pool.active = True
                break
    return pools


def _total(
    summary: dict[str, Any],
    keys: tuple[Any, ...],
    devs: list[dict[str, Any]],
    dev_keys: list[RowKeys],
    which: str,
) -> int | None:
    """``_count``: the summary's counter, else the devices' sum."""
    raw = _get(summary, keys)
    if raw is not None:
        return _count(raw)
    counts = [_count(_get(d, getattr(k, which))) for d, k in zip(devs, dev_keys, strict=True)]
    if all(c is None for c in counts):
        return None
    return _count(sum(c for c in counts if c is not None))


def _uptime(
    summary: dict[str, Any], sk: RowKeys, stats: dict[str, Any] | None, tk: RowKeys
) -> int | None:
    for value in (
        _get(summary, sk.elapsed),
        _get(stats, tk.elapsed) if stats is not None else None,
        _get(summary, sk.uptime),
    ):
        if value is None:
            continue
        seconds = value if value.__class__ is int else parse_duration_s(value)
        if seconds is None:
            raise _BAIL
        return _count(seconds, MAX_UPTIME_S)
    return None
