"""Impossible readings never pass as healthy: each suspect-data rule, and what a flag keeps out.

Hostile replies at the codec boundary (nesting, size, digits, binary) are here too: each must
be a ``CgminerProtocolError`` with a plain reason, never another exception.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from backend.fleet.alerts import RuleSet
from backend.fleet.codec import (
    MAX_REPLY_BYTES,
    CgminerProtocolError,
    decode_reply,
    parse_status,
    split_joined,
)
from backend.fleet.economics import miner_money
from backend.fleet.normalize import normalize, to_float, to_int
from backend.fleet.plausible import SUSPECT_PREFIX, is_suspect
from backend.fleet.totals import MinerFigures, fleet_totals
from backend.settings import Settings

OK = [{"STATUS": "S", "When": 1, "Code": 11, "Msg": "Summary", "Description": "cgminer 4.11.1"}]


def summary_row(**fields: Any) -> dict[str, Any]:
    """A sane cgminer summary (MH/s) with ``fields`` replaced (None removes a key)."""
    row: dict[str, Any] = {
        "Elapsed": 3600,
        "MHS av": 13_500_000.0,
        "MHS 5s": 13_600_000.0,
        "Accepted": 120,
        "Rejected": 1,
        "Hardware Errors": 2,
    }
    for key, value in fields.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def replies(**fields: Any) -> dict[str, Any]:
    return {"summary": {"STATUS": OK, "SUMMARY": [summary_row(**fields)], "id": 1}}


# Each rule: the reading, the field it would fill, and the plain reason shown.
RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"MHS 5s": -5.0}, "hashrate_ths", "negative hashrate"),
    ({"MHS av": -1.0}, "hashrate_avg_ths", "negative hashrate"),
    ({"MHS 5s": math.nan}, "hashrate_ths", "hashrate is not finite"),
    ({"MHS 5s": math.inf}, "hashrate_ths", "hashrate is not finite"),
    ({"MHS 5s": "nan"}, "hashrate_ths", "hashrate is not finite"),
    ({"GHS 5s": "abc"}, "hashrate_ths", 'hashrate "abc" is not a number'),
    ({"MHS 5s": [1, 2]}, "hashrate_ths", "hashrate is not a number"),
    ({"MHS 5s": 2e10}, "hashrate_ths", "hashrate 20000 TH/s out of range"),
    ({"MHS 5s": 10**400}, "hashrate_ths", "hashrate out of range"),
    ({"Accepted": -10}, "accepted", "negative accepted shares"),
    ({"Rejected": -1}, "rejected", "negative rejected shares"),
    ({"Accepted": 10**400}, "accepted", "accepted shares out of range"),
    ({"Accepted": "9" * 400}, "accepted", "accepted shares out of range"),
    ({"Hardware Errors": -3}, "hardware_errors", "negative hardware errors"),
    ({"Elapsed": -60}, "uptime_s", "negative uptime"),
    ({"Elapsed": 10**10}, "uptime_s", "uptime 1e+10 out of range"),
    ({"Elapsed": "soon"}, "uptime_s", 'uptime "soon" is not a number'),
    ({"Temperature": 500}, "temp_board_max_c", "temperature 500 °C out of range"),
    ({"Temperature": -50}, "temp_board_max_c", "temperature -50 °C out of range"),
    ({"Temperature": "hot"}, "temp_board_max_c", 'temperature "hot" is not a number'),
    ({"Chip Temp Max": math.inf}, "temp_chip_max_c", "temperature is not finite"),
    ({"Env Temp": 151}, "temp_inlet_c", "temperature 151 °C out of range"),
    ({"Power": -100}, "power_w", "negative power"),
    ({"Power": 25_000}, "power_w", "power 25000 W out of range"),
    ({"Fan Speed In": 99_999, "Fan Speed Out": 5000}, "fans_rpm", "fan speed 99999 out of range"),
    ({"Fan Speed In": -1, "Fan Speed Out": 5000}, "fans_rpm", "negative fan speed"),
    ({"Factory GHS": -1}, "hashrate_expected_ths", "negative hashrate"),
]


@pytest.mark.parametrize(("fields", "field", "reason"), RULES, ids=[r[2] for r in RULES])
def test_each_impossible_reading_is_unknown_and_flags_the_miner(
    fields: dict[str, Any], field: str, reason: str
) -> None:
    sane = normalize(replies())
    assert sane.status == "online" and sane.error is None and sane.uptime_s == 3600
    snap = normalize(replies(**fields))
    assert snap.status == "error"
    assert snap.error is not None and snap.error.startswith(SUSPECT_PREFIX)
    assert reason in snap.error
    assert is_suspect(snap.error)
    value = getattr(snap, field)
    if field == "fans_rpm":
        assert value == [5000]  # the impossible fan is left out
    else:
        assert value is None


def test_a_flagged_hashrate_is_not_replaced_by_another_source() -> None:
    """The summary lies; the DEVS rows would sum to a plausible rate: the field stays unknown."""
    data = replies(**{"MHS 5s": -5.0})
    data["devs"] = {"STATUS": OK, "DEVS": [{"ASC": 0, "MHS 5s": 4_000_000.0}]}
    snap = normalize(data)
    assert snap.status == "error" and snap.hashrate_ths is None


def test_several_problems_are_named_once_each() -> None:
    snap = normalize(replies(**{"MHS 5s": -1.0, "MHS av": -1.0, "Elapsed": -5, "Accepted": -1}))
    assert snap.error == (
        "suspect data: negative hashrate; negative accepted shares; negative uptime"
    )


def test_many_problems_are_cut_short() -> None:
    fields = {"MHS 5s": -1.0, "Elapsed": -5, "Accepted": -1, "Rejected": -1}
    snap = normalize(replies(**fields, **{"Hardware Errors": -1, "Temperature": 900}))
    assert snap.error is not None and snap.error.endswith("(and 2 more)")


@pytest.mark.parametrize("blank", ["", "-", "N/A", "unknown", None])
def test_placeholders_are_absent_while_garbage_is_suspect(blank: Any) -> None:
    snap = normalize(replies(**{"Temperature": blank, "Power": blank}))
    assert snap.status == "online" and snap.error is None
    assert snap.temp_board_max_c is None and snap.power_w is None
    snap = normalize(replies(**{"Temperature": blank, "Power": "lots"}))
    assert snap.error == 'suspect data: power "lots" is not a number'


@pytest.mark.parametrize("zero", [0, 0.0, "0", -1, -40])
def test_zero_and_slightly_negative_temperatures_are_absent_sensors(zero: Any) -> None:
    snap = normalize(replies(Temperature=zero))
    assert snap.status == "online" and snap.temp_board_max_c is None
    snap = normalize(replies(**{"Temperature": zero, "Chip Temp Max": 180}))
    assert snap.error == "suspect data: temperature 180 °C out of range"
    assert snap.temp_board_max_c is None and snap.temp_chip_max_c is None


def test_antminer_sensor_strings_out_of_range_are_flagged() -> None:
    stats = {
        "STATUS": OK,
        "STATS": [
            {"BMMiner": "1.0.0", "Type": "Antminer S19 Pro"},
            {"chain_acn1": 114, "chain_rate1": "36000", "temp_chip1": "70-255-71-72"},
        ],
    }
    snap = normalize({**replies(), "stats": stats})
    assert snap.status == "error" and snap.error is not None
    assert "temperature 255 °C out of range" in snap.error
    assert snap.boards[0].temp_chip_c == 72  # the plausible sensors of that board remain


def test_sleeping_miner_with_impossible_values_is_error_not_sleeping() -> None:
    data = replies(**{"MHS 5s": 0.0, "Elapsed": -1})
    data["devs"] = {"STATUS": OK, "DEVS": [{"ASC": 0, "Enabled": "N", "MHS 5s": 0}]}
    assert normalize(data).status == "error"


HOSTILE: list[Any] = [
    10**400,
    "9" * 5000,
    "1e999",
    math.nan,
    -math.inf,
    [],
    {"a": 1},
    True,
    "abc",
    "\x00\x1b[2J",
]
READ_KEYS = [
    *summary_row(),
    "Temperature",
    "Power",
    "Fan Speed In",
    "Factory GHS",
    "Chip Temp Max",
    "Env Temp",
    "Uptime",
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:20] for v in HOSTILE])
def test_a_hostile_value_in_any_field_read_never_raises_and_always_flags(value: Any) -> None:
    for key in READ_KEYS:
        fields = {key: value, "Elapsed": None} if key == "Uptime" else {key: value}
        snap = normalize(replies(**fields))
        assert snap.status == "error", key
        assert is_suspect(snap.error), (key, snap.error)
        for number in (snap.hashrate_ths, snap.power_w, snap.temp_board_max_c, snap.uptime_s):
            assert number is None or (math.isfinite(number) and number >= 0), key


def test_to_float_and_to_int_survive_numbers_beyond_a_float() -> None:
    assert to_float(10**400) is None
    assert to_float("9" * 5000) is None
    assert to_int(10**400) == 10**400  # exact: the range check is the caller's


# --------------------------------------------------------------------------- what a flag excludes


def suspect_snapshot() -> Any:
    return normalize(replies(**{"MHS 5s": -1.0, "Temperature": 500, "Hardware Errors": -9}))


def test_a_suspect_miner_earns_nothing_stated() -> None:
    snap = suspect_snapshot()
    money = miner_money(snap.status, snap.hashrate_ths, snap.hashrate_avg_ths, 3000.0, 0.05, 0.1)
    assert money == (None, None, None)


def test_economics_ignore_impossible_figures_whatever_the_status() -> None:
    assert miner_money("online", math.nan, None, -5.0, 0.05, 0.1) == (None, None, None)
    revenue, cost, _ = miner_money("online", 1e9, 100.0, 1e9, 0.05, 0.1)
    assert revenue == pytest.approx(5.0) and cost is None


def test_a_suspect_miner_raises_no_threshold_alert(settings: Settings) -> None:
    found, judged = RuleSet(settings).evaluate(suspect_snapshot(), (0.0, 0), 60.0)
    assert judged == frozenset({"offline"})  # temperatures, hashrate, errors: not judged
    assert set(found) == {"offline"}
    assert "suspect data" in found["offline"].message


def test_fleet_totals_skip_suspect_and_impossible_figures() -> None:
    snap = suspect_snapshot()
    miners = [
        MinerFigures("online", "A", 100.0, 110.0, 3000.0, 5.0, 7.0),
        MinerFigures(snap.status, "A", 999.0, 999.0, 9999.0, None, None),
        MinerFigures("online", "A", math.nan, math.inf, -50.0, math.nan, math.inf),
        MinerFigures("online", "B", -100.0, None, 1e9, None, None),
    ]
    totals = fleet_totals(miners)
    assert totals["online"] == 3 and totals["error"] == 1
    assert totals["hashrate_ths"] == 100.0 and totals["hashrate_expected_ths"] == 110.0
    assert totals["power_kw"] == 3.0
    assert totals["revenue_usd_day"] == 5.0 and totals["cost_usd_day"] == 7.0
    assert totals["sites"][0]["hashrate_ths"] == 100.0


# --------------------------------------------------------------------------- the codec boundary


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000 + b"\x00", "reply nested deeper than"),
        (b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "reply nested deeper than"),
        (b"{" * 300, "reply nested deeper than"),
        (b'{"STATUS":"S","Accepted":' + b"9" * 5000 + b"}", "a number has too many digits"),
        (b'{"STATUS":"S","x":[1,' + b"9" * 5000 + b",]}", "a number has too many digits"),
        (b"\x9f\x80\x01binary\x02\xff\x00", "reply is binary data"),
        (b'{"STATUS":"S","Msg":"' + b"x" * MAX_REPLY_BYTES + b'"}', "reply too large"),
    ],
    ids=["nested", "nested-inside", "unclosed", "digits", "digits-repaired", "binary", "large"],
)
def test_hostile_replies_are_protocol_errors_with_a_plain_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(CgminerProtocolError) as caught:
        decode_reply(raw)
    assert reason in caught.value.reason
    assert len(str(caught.value)) < 300  # never the payload


def test_only_real_nesting_counts_not_brackets_inside_strings() -> None:
    reply = decode_reply(b'{"STATUS":"S","Msg":"' + b"[" * 10_000 + b'"}\x00')
    assert reply["Msg"] == "[" * 10_000
    with pytest.raises(CgminerProtocolError, match="nested deeper than 128 levels"):
        decode_reply(b'{"STATUS":"S","Msg":' + b"[" * 10_000 + b"]" * 10_000 + b"}\x00")


def test_missing_commas_are_repaired_in_linear_time() -> None:
    """Antminer's ``}{`` repair on a reply of 200,000 objects (quadratic before: minutes)."""
    raw = b'{"STATS":[' + b'{"a":1}' * 130_000 + b"]}"
    started = time.monotonic()
    reply = decode_reply(raw)
    assert len(reply["STATS"]) == 130_000
    assert time.monotonic() - started < 20  # about 0.1 s; generous for a loaded machine


def test_status_code_beyond_a_float_is_unknown() -> None:
    assert (
        parse_status({"STATUS": [{"STATUS": "S", "Code": "1e999", "When": "9" * 400}]}).code is None
    )


def test_non_finite_numbers_in_a_joined_reply_flag_the_miner() -> None:
    raw = (
        b'{"summary":[{"STATUS":[{"STATUS":"S","Code":11,"Msg":"Summary"}],'
        b'"SUMMARY":[{"Elapsed":5,"MHS 5s":nan,"MHS av":inf}]}],"id":1}\x00'
    )
    snap = normalize(split_joined(decode_reply(raw)))
    assert snap.status == "error" and snap.error == "suspect data: hashrate is not finite"
