"""Normalisation: concrete values read from the captured fixtures, and each quirk."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from backend.fleet.codec import decode_reply, split_joined
from backend.fleet.normalize import (
    FAMILY_ANTMINER,
    FAMILY_BRAIINS,
    FAMILY_CGMINER,
    FAMILY_WHATSMINER,
    Board,
    MinerSnapshot,
    Pool,
    Row,
    detect_family,
    hashrate_ths,
    last_share_age_s,
    normalize,
    parse_duration_s,
    to_bool,
    to_float,
    to_int,
)

AM = "antminer-s19pro-stock-bmminer-1.0.0_"
WM = "whatsminer-btminer-api-v1.4.0-fw20210322_"
CG = "cgminer-4.11.1-benchmark_"
Loader = Callable[[str], bytes]


def ok(section: str, rows: list[dict[str, Any]], code: int = 11) -> dict[str, Any]:
    """A minimal successful cgminer reply."""
    head = {"STATUS": "S", "When": 1, "Code": code, "Msg": section, "Description": "test"}
    return {"STATUS": [head], section: rows, "id": 1}


def replies_from(load: Loader, prefix: str, commands: list[str]) -> dict[str, dict[str, Any]]:
    return {c: decode_reply(load(f"{prefix}{c}.json")) for c in commands}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def antminer(fixture_bytes: Loader) -> MinerSnapshot:
    return normalize(
        replies_from(fixture_bytes, AM, ["version", "summary", "stats", "pools", "devs"])
    )


@pytest.fixture
def whatsminer(fixture_bytes: Loader) -> MinerSnapshot:
    commands = ["summary", "devs", "pools", "get_version", "get_psu", "status"]
    return normalize(replies_from(fixture_bytes, WM, commands))


def test_antminer_s19pro_identity_and_hashrate(antminer: MinerSnapshot) -> None:
    assert antminer.status == "online"
    assert antminer.error is None
    assert antminer.model == "Antminer S19 Pro"
    assert antminer.firmware == "BMMiner 1.0.0 (49.0.1.3)"
    assert antminer.hashrate_ths == pytest.approx(110.56689)  # "GHS 5s": 110566.89
    assert antminer.hashrate_avg_ths == pytest.approx(111.83485)  # "GHS av": 111834.85
    assert antminer.hashrate_expected_ths == pytest.approx(110.0)  # total_rateideal, GH
    assert antminer.power_w is None and antminer.efficiency_jth is None  # stock: no power
    assert antminer.uptime_s == 50474
    assert (antminer.accepted, antminer.rejected, antminer.hardware_errors) == (4057, 11, 562)


def test_antminer_s19pro_boards_chips_and_temps(antminer: MinerSnapshot) -> None:
    # Three chains of 114 chips ("ooo" groups); the empty 4th slot is not a board.
    assert [b.chips_ok for b in antminer.boards] == [114, 114, 114]
    assert [b.chips_expected for b in antminer.boards] == [114, 114, 114]
    assert [b.chips_failed for b in antminer.boards] == [0, 0, 0]
    assert [b.hashrate_ths for b in antminer.boards] == pytest.approx(
        [37.6033, 35.53622, 37.42738]  # chain_rate strings, rate_unit GH
    )
    assert [b.temp_board_c for b in antminer.boards] == [73, 66, 64]  # max of temp_pcbN
    assert [b.temp_chip_c for b in antminer.boards] == [78, 71, 69]  # max of temp_chipN
    assert antminer.temp_board_max_c == 73
    assert antminer.temp_chip_max_c == 78
    assert (antminer.temp_inlet_c, antminer.temp_outlet_c) == (44, 66)
    assert antminer.fans_rpm == [6000, 5880, 5040, 5040]


def test_antminer_s19pro_pools(antminer: MinerSnapshot) -> None:
    assert [p.url for p in antminer.pools] == ["stratum+tcp://btc.global.luxor.tech:700"] * 3
    assert [p.priority for p in antminer.pools] == [0, 1, 2]
    assert [p.active for p in antminer.pools] == [True, False, False]
    first = antminer.pools[0]
    assert first == Pool(
        url="stratum+tcp://btc.global.luxor.tech:700",
        user="satokierepair.H04YK",
        status="alive",
        active=True,
        priority=0,
        accepted=4057,
        rejected=11,
        stale=1,
    )


def test_whatsminer_mhs_converted_to_ths(whatsminer: MinerSnapshot) -> None:
    assert whatsminer.status == "online"
    assert whatsminer.model == "Whatsminer"  # brand known, the capture has no model string
    assert whatsminer.firmware == "20210322.22.REL"
    assert whatsminer.hashrate_ths == pytest.approx(70.66811452)  # "MHS 5s": 70668114.52
    assert whatsminer.hashrate_avg_ths == pytest.approx(67.75325119)  # "MHS av"
    assert whatsminer.hashrate_expected_ths == pytest.approx(68.796)  # "Factory GHS": 68796
    assert whatsminer.power_w == 3417
    assert whatsminer.efficiency_jth == pytest.approx(3417 / 67.75325119, abs=0.01)
    assert whatsminer.fans_rpm == [6450, 6480]  # Fan Speed In / Out
    assert whatsminer.temp_board_max_c == 71.5
    assert whatsminer.temp_chip_max_c == 92.5
    assert whatsminer.temp_inlet_c is None  # this firmware has no Env Temp
    assert whatsminer.uptime_s == 10154
    assert (whatsminer.accepted, whatsminer.rejected, whatsminer.hardware_errors) == (2338, 0, 69)


def test_whatsminer_boards_and_pools(whatsminer: MinerSnapshot) -> None:
    assert [b.index for b in whatsminer.boards] == [0, 1, 2]
    assert [b.chips_ok for b in whatsminer.boards] == [105, 105, 105]
    assert [b.hashrate_ths for b in whatsminer.boards] == pytest.approx(
        [20.05343874, 25.56731781, 24.35129228]
    )
    assert [b.temp_board_c for b in whatsminer.boards] == [70.0, 69.5, 71.5]
    assert [b.temp_chip_c for b in whatsminer.boards] == [90.0, 90.11, 92.5]
    assert [p.url for p in whatsminer.pools] == [
        "stratum+tcp://btc.example.pool:3333",
        "stratum+tcp://btc2.example.pool:3333",
        "stratum+tcp://btc3.example.pool:3333",
    ]
    assert [p.active for p in whatsminer.pools] == [True, False, False]


def test_whatsminer_btmineroff_alone_does_not_mean_sleeping(whatsminer: MinerSnapshot) -> None:
    # The capture says btmineroff "true" while hashing at 70 TH/s: hashrate wins.
    assert whatsminer.status == "online"


def test_cgminer_benchmark(fixture_bytes: Loader) -> None:
    replies = replies_from(fixture_bytes, CG, ["version", "summary", "stats", "pools"])
    replies["devs"] = decode_reply(fixture_bytes(f"{CG}devs_no_devices.json"))
    snap = normalize(replies)
    assert snap.status == "online"
    assert snap.firmware == "CGMiner 4.11.1"
    assert snap.model is None  # upstream cgminer reports no model: not made up
    assert snap.hashrate_ths == 0.0 and snap.hashrate_avg_ths == 0.0  # real zeros (MHS)
    assert snap.hashrate_expected_ths is None
    assert snap.boards == [] and snap.fans_rpm == []
    assert snap.temp_board_max_c is None and snap.temp_chip_max_c is None
    assert snap.uptime_s == 44
    # The synthetic "Benchmark" pool is not a user pool; the real one is Dead.
    assert [(p.url, p.status, p.active) for p in snap.pools] == [
        ("stratum+tcp://127.0.0.1:3333", "dead", False)
    ]


def test_cgminer_joined_fixture_normalises(fixture_bytes: Loader) -> None:
    parts = split_joined(decode_reply(fixture_bytes(f"{CG}multi_summary+devs+pools.json")))
    snap = normalize(parts)
    assert snap.status == "online"
    assert snap.uptime_s == 44
    assert len(snap.pools) == 1


def test_detect_family_from_fixtures(fixture_bytes: Loader) -> None:
    assert detect_family({"version": decode_reply(fixture_bytes(f"{AM}version.json"))}) == (
        FAMILY_ANTMINER
    )
    assert detect_family({"stats": decode_reply(fixture_bytes(f"{AM}stats.json"))}) == (
        FAMILY_ANTMINER
    )
    assert detect_family({"summary": decode_reply(fixture_bytes(f"{WM}summary.json"))}) == (
        FAMILY_WHATSMINER
    )
    assert detect_family({"version": decode_reply(fixture_bytes(f"{CG}version.json"))}) == (
        FAMILY_CGMINER
    )


def test_to_dict_is_json_serialisable(antminer: MinerSnapshot) -> None:
    data = antminer.to_dict()
    assert data["boards"][0]["chips_ok"] == 114
    assert data["pools"][0]["active"] is True
    assert set(data) == {
        "status", "model", "firmware", "hashrate_ths", "hashrate_avg_ths",
        "hashrate_expected_ths", "power_w", "efficiency_jth", "temp_inlet_c",
        "temp_outlet_c", "temp_board_max_c", "temp_chip_max_c", "fans_rpm", "boards",
        "pools", "accepted", "rejected", "hardware_errors", "uptime_s", "error",
    }  # fmt: skip
    json.dumps(data)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("140258.58", 140258.58),
        ("1600M", 1.6e9),
        ("524K", 524000.0),
        ("1.5 TH/s", 1.5e12),
        (" 42 ", 42.0),
        (37, 37.0),
        ("", None),
        ("-", None),
        ("N/A", None),
        ("nan", None),
        (float("inf"), None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_to_float(raw: Any, expected: float | None) -> None:
    assert to_float(raw) == expected


def test_to_int_and_to_bool() -> None:
    assert to_int("114") == 114 and to_int("37603.30") == 37603 and to_int("x") is None
    assert to_bool("Y") is True and to_bool("false") is False and to_bool(True) is True
    assert to_bool("maybe") is None


def test_odd_keys_are_found() -> None:
    row = Row({"Pool Stale%%": 1.5, "Tenperature": 61.0, "MHS 5s": "1000000"})
    assert row.get("Pool Stale%") == 1.5
    assert row.get("Temperature") == 61.0
    assert hashrate_ths(row, "5s") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("key", "value", "expected_ths"),
    [("GHS 5s", 110566.89, 110.56689), ("MHS 5s", "70668114.52", 70.66811452)],
)
def test_hashrate_units(key: str, value: Any, expected_ths: float) -> None:
    assert hashrate_ths(Row({key: value}), "5s") == pytest.approx(expected_ths)


def test_khs_units() -> None:
    assert hashrate_ths(Row({"KHS av": 5e9}), "av") == pytest.approx(5.0)


def test_stats_rate_unit_th() -> None:
    stats = {
        "STATS": 0, "ID": "BTM_SOC0", "rate_unit": "TH", "total_rateideal": 200.0,
        "chain_acn1": 108, "chain_acs1": "", "chain_rate1": "66.5",
    }  # fmt: skip
    snap = normalize({"stats": ok("STATS", [{"Type": "Antminer S21"}, stats], 70)})
    assert snap.hashrate_expected_ths == 200.0
    assert snap.boards[0].hashrate_ths == 66.5
    assert snap.boards[0].chips_expected == 108 and snap.boards[0].chips_ok == 108


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0:00:27", 27), ("1:02:03", 3723), ("2:01:00:00", 176400), ("15", 15)],
)
def test_parse_duration(value: str, expected: int) -> None:
    assert parse_duration_s(value) == expected


def test_last_share_time_both_encodings() -> None:
    now = 1_761_061_400.0
    assert last_share_age_s("0:00:27", now) == 27  # Antminer pools: an age string
    assert last_share_age_s(1761061364, now) == 36  # cgminer/Whatsminer: epoch
    assert last_share_age_s(0, now) is None  # never
    assert last_share_age_s("0", now) is None
    assert last_share_age_s(int(time.time()) - 5) in (4, 5, 6)


# --------------------------------------------------------------------------- quirks


def test_chain_acs_counts_ok_and_failed_chips() -> None:
    stats = {
        "chain_acn1": 8, "chain_acs1": "oooo xooo", "chain_rate1": "1000",
        "chain_acn2": 8, "chain_acs2": " ooo ooo oo", "chain_rate2": "1200",
    }  # fmt: skip
    snap = normalize({"stats": ok("STATS", [{"Type": "Antminer Sx"}, stats], 70)})
    assert [(b.chips_ok, b.chips_failed) for b in snap.boards] == [(7, 1), (8, 0)]
    assert [b.chips_expected for b in snap.boards] == [None, None]  # unknown model: no guess
    assert snap.hashrate_ths == pytest.approx(2.2)  # summed from chains (GH by default)


def test_temp_strings_and_fan_list() -> None:
    stats = {
        "fan_num": 4, "fan1": 6000, "fan2": 0, "fan3": 5040, "fan4": 5040, "fan5": 0,
        "chain_acn1": 76, "chain_rate1": "30000", "temp_pcb1": "40-40-55-55",
        "temp_chip1": "45-45-60-61",
    }  # fmt: skip
    snap = normalize({"stats": ok("STATS", [{"Type": "Antminer S19"}, stats], 70)})
    assert snap.fans_rpm == [6000, 0, 5040, 5040]  # fan_num=4: a stopped fan is real data
    assert snap.boards[0].temp_board_c == 55 and snap.boards[0].temp_chip_c == 61
    assert (snap.temp_inlet_c, snap.temp_outlet_c) == (40, 55)
    assert snap.boards[0].chips_expected == 76


def test_temp_n_fallback_when_no_strings() -> None:
    stats = {"chain_acn6": 63, "chain_rate6": "4500", "temp6": 60, "temp2_6": 75}
    snap = normalize({"stats": ok("STATS", [{"Type": "Antminer S9"}, stats], 70)})
    assert snap.boards == [
        Board(
            index=0,
            chips_expected=63,
            chips_ok=63,
            chips_failed=0,
            hashrate_ths=4.5,
            temp_board_c=60,
            temp_chip_c=75,
        )
    ]


def test_tenperature_typo_in_devs() -> None:
    devs = [{"ASC": 0, "Name": "BTM", "Enabled": "Y", "Tenperature": 65.0, "MHS 5s": 5e6}]
    snap = normalize({"devs": ok("DEVS", devs, 9)})
    assert snap.boards[0].temp_board_c == 65.0
    assert snap.temp_board_max_c == 65.0
    assert snap.hashrate_ths == pytest.approx(5.0)


def test_devfee_and_placeholder_pools_are_excluded() -> None:
    pools = [
        {"POOL": 0, "URL": "stratum+tcp://pool.example:3333", "User": "me", "Priority": 0,
         "Status": "Alive", "Stratum Active": False, "Accepted": "12"},
        {"POOL": 1, "URL": "stratum+tcp://fee.example:3333", "User": "DevFee", "Priority": 1,
         "Status": "Alive", "Stratum Active": True},
        {"POOL": 2, "URL": "DevFee", "User": "x", "Priority": 2, "Status": "Alive"},
    ]  # fmt: skip
    summary = [{"Elapsed": 10, "MHS 5s": 1.0}]
    snap = normalize({"summary": ok("SUMMARY", summary), "pools": ok("POOLS", pools, 7)})
    assert [p.url for p in snap.pools] == ["stratum+tcp://pool.example:3333"]
    assert snap.pools[0].accepted == 12


def test_active_pool_falls_back_to_best_alive_without_stratum_flag() -> None:
    pools = [
        {"POOL": 0, "URL": "stratum+tcp://a.example:3333", "Priority": 1, "Status": "Alive"},
        {"POOL": 1, "URL": "stratum+tcp://b.example:3333", "Priority": 0, "Status": "Dead"},
        {"POOL": 2, "URL": "stratum+tcp://c.example:3333", "Priority": 2, "Status": "Alive"},
    ]
    snap = normalize({"summary": ok("SUMMARY", [{"Elapsed": 1}]), "pools": ok("POOLS", pools, 7)})
    assert [(p.url[14:15], p.active) for p in snap.pools] == [
        ("b", False),
        ("a", True),
        ("c", False),
    ]


def test_braiins_replies() -> None:
    version = ok("VERSION", [{"API": "3.7", "BOSer": "boser-buildroot 0.1.0-0ce150e9"}], 22)
    summary = ok("SUMMARY", [{"Elapsed": 100, "MHS 5s": 9.9e7, "MHS av": 1e8}])
    devs = ok("DEVS", [{"ASC": i, "Enabled": "Y", "MHS 5s": 3.3e7} for i in range(3)], 9)
    fans = ok("FANS", [{"FAN": i, "ID": i, "RPM": 3200 + i, "Speed": 32} for i in range(4)], 202)
    temp_rows = [{"TEMP": i, "ID": i, "Board": 50.0 + i, "Chip": 60.0 + i} for i in range(3)]
    temps = ok("TEMPS", temp_rows, 201)
    details = ok("DEVDETAILS", [{"DEVDETAILS": i, "Model": "", "Chips": 126} for i in range(3)], 69)
    tuner = ok("TUNERSTATUS", [{"ApproximateMinerPowerConsumption": 3000}], 203)
    replies = {"version": version, "summary": summary, "devs": devs, "fans": fans}
    replies.update(temps=temps, devdetails=details, tunerstatus=tuner)
    assert detect_family(replies) == FAMILY_BRAIINS
    snap = normalize(replies)
    assert snap.firmware == "BOSer boser-buildroot 0.1.0-0ce150e9"
    assert snap.model is None  # Braiins left Model empty: no guess
    assert snap.fans_rpm == [3200, 3201, 3202, 3203]
    assert [(b.temp_board_c, b.temp_chip_c, b.chips_ok) for b in snap.boards] == [
        (50.0, 60.0, 126),
        (51.0, 61.0, 126),
        (52.0, 62.0, 126),
    ]
    assert snap.temp_board_max_c == 52.0 and snap.temp_chip_max_c == 62.0
    assert snap.hashrate_ths == pytest.approx(99.0)
    assert snap.power_w == 3000 and snap.efficiency_jth == 30.0


def test_bosminer_version_key_detected() -> None:
    version = ok("VERSION", [{"BOSminer": "bosminer-plus-tuner 0.2.0", "API": "3.7"}], 22)
    assert detect_family({"version": version}) == FAMILY_BRAIINS


def test_missing_data_is_none_not_zero() -> None:
    snap = normalize({"summary": ok("SUMMARY", [{"Elapsed": 5, "GHS 5s": "100000"}])})
    assert snap.status == "online"
    assert snap.hashrate_ths == 100.0
    assert snap.hashrate_avg_ths is None
    assert snap.power_w is None and snap.efficiency_jth is None
    assert snap.temp_board_max_c is None and snap.temp_inlet_c is None
    assert snap.accepted is None and snap.rejected is None
    assert snap.fans_rpm == [] and snap.boards == [] and snap.pools == []


def test_all_errors_gives_error_snapshot() -> None:
    invalid = {"STATUS": [{"STATUS": "E", "When": 1, "Code": 14, "Msg": "Invalid command"}]}
    snap = normalize({"summary": invalid, "devs": invalid})
    assert snap.status == "error"
    assert snap.error == "summary: Invalid command (code 14); devs: Invalid command (code 14)"
    assert snap.hashrate_ths is None


def test_error_parts_are_ignored_when_others_work() -> None:
    invalid = {"STATUS": "E", "When": 1, "Code": 14, "Msg": "invalid cmd", "Description": "wm"}
    summary = ok("SUMMARY", [{"Elapsed": 5, "MHS 5s": 2e6}])
    snap = normalize({"version": invalid, "stats": invalid, "summary": summary})
    assert snap.status == "online" and snap.hashrate_ths == 2.0


def test_sleeping_whatsminer_and_disabled_devices() -> None:
    status = {
        "STATUS": "S",
        "Code": 131,
        "Msg": {"btmineroff": "true"},
        "Description": "whatsminer v1.4.0",
    }
    summary = ok("SUMMARY", [{"Elapsed": 5, "MHS 5s": 0.0}])
    assert normalize({"summary": summary, "status": status}).status == "sleeping"
    devs = ok("DEVS", [{"ASC": 0, "Enabled": "N", "MHS 5s": 0}, {"ASC": 1, "Enabled": "N"}], 9)
    assert normalize({"summary": summary, "devs": devs}).status == "sleeping"
    # Zero hashrate alone is not sleep: could be a fault.
    assert normalize({"summary": summary}).status == "online"


def test_offline_and_failed_constructors() -> None:
    assert MinerSnapshot.offline("connection refused").to_dict()["status"] == "offline"
    failed = MinerSnapshot.failed("connection reset")
    assert (failed.status, failed.error, failed.pools) == ("error", "connection reset", [])
