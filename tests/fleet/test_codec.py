"""Wire protocol: every captured reply decodes, and every firmware quirk is repaired."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.fleet.codec import (
    CODE_ACCESS_DENIED,
    CgminerCommandError,
    CgminerProtocolError,
    Status,
    check_status,
    decode_reply,
    encode_request,
    escape_parameter,
    is_joined_reply,
    join_commands,
    message_object,
    parse_status,
    parse_text_reply,
    section_rows,
    split_joined,
)

AM = "antminer-s19pro-stock-bmminer-1.0.0_"
WM = "whatsminer-btminer-api-v1.4.0-fw20210322_"
CG = "cgminer-4.11.1-benchmark_"

# (STATUS letter, Code) read from each captured file.
EXPECTED_STATUS: dict[str, tuple[str, int]] = {
    f"{AM}devs.json": ("S", 9),
    f"{AM}pools.json": ("S", 7),
    f"{AM}stats.json": ("S", 70),
    f"{AM}summary.json": ("S", 11),
    f"{AM}version.json": ("S", 22),
    f"{CG}config.json": ("S", 33),
    f"{CG}devs_no_devices.json": ("E", 10),
    f"{CG}invalid_command.json": ("E", 14),
    f"{CG}pools.json": ("S", 7),
    f"{CG}stats.json": ("S", 70),
    f"{CG}summary.json": ("S", 11),
    f"{CG}version.json": ("S", 22),
    f"{WM}devs.json": ("S", 9),
    f"{WM}get_psu.json": ("S", 131),
    f"{WM}get_version.json": ("S", 131),
    f"{WM}pools.json": ("S", 7),
    f"{WM}status.json": ("S", 131),
    f"{WM}summary.json": ("S", 11),
}


# --------------------------------------------------------------------------- every fixture


def test_every_fixture_decodes(miner_fixture_path: Path) -> None:
    raw = miner_fixture_path.read_bytes()
    reply = decode_reply(raw)
    # Same result with the cgminer wire terminator and trailing whitespace added.
    assert decode_reply(raw + b"\x00") == reply
    assert decode_reply(raw + b"\n\x00\x00 ") == reply
    if is_joined_reply(reply):
        parts = split_joined(reply)
        assert set(parts) == {"summary", "devs", "pools"}
        for part in parts.values():
            assert parse_status(part).status in ("S", "E")
        return
    expected = EXPECTED_STATUS[miner_fixture_path.name]
    status = parse_status(reply)
    assert (status.status, status.code) == expected
    assert status.when is not None and status.when > 1_700_000_000


def test_every_fixture_reads_the_same_from_bytes_and_from_text(miner_fixture_path: Path) -> None:
    """Bytes go through the strict fast parser, text through the repairing one: same reply."""
    raw = miner_fixture_path.read_bytes()
    assert decode_reply(raw) == decode_reply(raw.decode("utf-8", "replace"))


@pytest.mark.parametrize(
    "number", ["123456789012345678901234", "18446744073709551616", "-9223372036854775809"]
)
def test_integers_past_64_bits_stay_exact(number: str) -> None:
    reply = decode_reply(f'{{"STATUS":"S","Accepted":{number}}}'.encode())
    assert type(reply["Accepted"]) is int and reply["Accepted"] == int(number)


def test_bytes_that_are_not_utf8_are_replaced_not_refused() -> None:
    assert decode_reply(b'{"Msg":"caf\xe9","n":1}') == {"Msg": "caf\ufffd", "n": 1}


def test_lone_surrogate_escape_is_kept() -> None:
    assert decode_reply(b'{"Msg":"x\\ud800"}') == {"Msg": "x\ud800"}


def test_fixture_inventory_is_known(miner_fixture_path: Path) -> None:
    """A new capture dropped into shared/ must get its expectations written here."""
    name = miner_fixture_path.name
    assert name in EXPECTED_STATUS or name == f"{CG}multi_summary+devs+pools.json"


def test_antminer_stats_fixture_values(fixture_bytes: Callable[[str], bytes]) -> None:
    reply = decode_reply(fixture_bytes(f"{AM}stats.json"))
    head, chains = section_rows(reply, "STATS")
    assert head["Type"] == "Antminer S19 Pro"
    assert chains["GHS 5s"] == 110566.89
    assert chains["chain_acn1"] == 114
    assert chains["chain_rate1"] == "37603.30"  # numbers as strings on real firmware


def test_antminer_stats_missing_comma_quirk(fixture_bytes: Callable[[str], bytes]) -> None:
    """Stock bmminer prints ``}{`` between the two STATS objects."""
    clean = fixture_bytes(f"{AM}stats.json").decode()
    broken = clean.replace('}, {"STATS": 0', '}{"STATS": 0')
    assert broken != clean
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert decode_reply(broken.encode() + b"\x00") == decode_reply(clean)


def test_whatsminer_string_status_with_object_msg(fixture_bytes: Callable[[str], bytes]) -> None:
    reply = decode_reply(fixture_bytes(f"{WM}get_version.json"))
    status = parse_status(reply)
    assert status == Status(
        code=131, status="S", msg="", description="whatsminer v1.4.0", when=1761064196
    )
    assert message_object(reply) == {"api_ver": "whatsminer v1.4.0", "fw_ver": "20210322.22.REL"}


def test_cgminer_invalid_command_raises(fixture_bytes: Callable[[str], bytes]) -> None:
    reply = decode_reply(fixture_bytes(f"{CG}invalid_command.json"))
    with pytest.raises(CgminerCommandError) as info:
        check_status(reply, "foo")
    assert info.value.code == 14
    assert info.value.msg == "Invalid command"
    assert "invalid command 'foo'" in str(info.value)


def test_cgminer_no_devices_is_an_error_status(fixture_bytes: Callable[[str], bytes]) -> None:
    status = parse_status(decode_reply(fixture_bytes(f"{CG}devs_no_devices.json")))
    assert status.is_error and status.code == 10 and status.msg == "No ASCs"


def test_split_joined_fixture(fixture_bytes: Callable[[str], bytes]) -> None:
    reply = decode_reply(fixture_bytes(f"{CG}multi_summary+devs+pools.json"))
    parts = split_joined(reply)
    assert list(parts) == ["summary", "devs", "pools"]
    assert section_rows(parts["summary"], "SUMMARY")[0]["Elapsed"] == 44
    assert parse_status(parts["devs"]).code == 10
    assert [p["URL"] for p in section_rows(parts["pools"], "POOLS")] == [
        "Benchmark",
        "stratum+tcp://127.0.0.1:3333",
    ]


# --------------------------------------------------------------------------- requests


def test_encode_json_and_text_requests() -> None:
    assert json.loads(encode_request("summary")) == {"command": "summary"}
    assert json.loads(encode_request("switchpool", 2)) == {
        "command": "switchpool",
        "parameter": "2",
    }
    assert encode_request("switchpool", 2, text=True) == b"switchpool|2"
    assert encode_request("summary", text=True) == b"summary"


def test_join_commands_dedupes_and_validates() -> None:
    assert join_commands(["summary", "stats", "pools", "stats"]) == "summary+stats+pools"
    with pytest.raises(ValueError):
        join_commands([])
    with pytest.raises(ValueError):
        join_commands(["summary+stats"])
    with pytest.raises(ValueError):
        encode_request("sum|mary")


def test_escape_parameter_for_addpool() -> None:
    assert escape_parameter("a,b\\c") == "a\\,b\\\\c"


# --------------------------------------------------------------------------- repairs


def test_trailing_nuls_and_whitespace() -> None:
    assert decode_reply(b'{"STATUS":"S","Code":1}\x00\x00\r\n ') == {"STATUS": "S", "Code": 1}


def test_leading_comma_in_array() -> None:
    assert decode_reply(b'{"STATS":[,{"a":1},{"b":2}]}') == {"STATS": [{"a": 1}, {"b": 2}]}


def test_trailing_commas() -> None:
    assert decode_reply(b'{"a":[1,2,],"b":{"c":3,},}') == {"a": [1, 2], "b": {"c": 3}}


@pytest.mark.parametrize(
    ("token", "sign"),
    [
        ("inf", 1),
        ("-inf", -1),
        ("nan", 0),
        ("-nan", 0),
        ("NaN", 0),
        ("Infinity", 1),
        ("-Infinity", -1),
    ],
)
def test_bare_non_finite_numbers_stay_non_finite(token: str, sign: int) -> None:
    """Kept as nan/inf (not nulled), so the normaliser can flag them instead of reading absent."""
    reply = decode_reply(f'{{"GHS av":{token},"ok":1.5}}'.encode())
    value = reply["GHS av"]
    assert reply["ok"] == 1.5 and isinstance(value, float)
    assert math.isnan(value) if sign == 0 else value == sign * math.inf


def test_overflowing_float_is_infinite() -> None:
    assert decode_reply(b'{"x":1e999,"y":-1e999}') == {"x": math.inf, "y": -math.inf}


def test_control_characters_between_tokens_and_inside_strings() -> None:
    reply = decode_reply(b'{"a":\x01 1,\x7f"msg":"line1\nline2\x02"}')
    assert reply == {"a": 1, "msg": "line1\nline2\x02"}


def test_invalid_backslash_escape_in_string() -> None:
    assert decode_reply(b'{"User":"DOMAIN\\worker","n":1,}') == {"User": "DOMAIN\\worker", "n": 1}


def test_repairs_do_not_touch_string_contents() -> None:
    raw = b'{"URL":"stratum+tcp://x}{y:3333","Msg":"inf nan ,]","v":[1,],}'
    assert decode_reply(raw) == {"URL": "stratum+tcp://x}{y:3333", "Msg": "inf nan ,]", "v": [1]}


def test_second_concatenated_document_is_dropped() -> None:
    raw = b'{"STATUS":[{"STATUS":"S","Code":11}]}{"STATUS":[{"STATUS":"S"}]}\x00'
    assert parse_status(decode_reply(raw)).code == 11


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        (b'{"RESTART","id":1}\x00', "RESTART"),  # cgminer's literal reply to restart
        (b'{"BYE","id":1}\x00', "BYE"),
        (b'{"STATUS":"RESTART"}', "RESTART"),
        (b"RESTART\x00", "RESTART"),
    ],
)
def test_bye_and_restart_replies(raw: bytes, msg: str) -> None:
    status = check_status(decode_reply(raw))
    assert status.status == "S" and status.msg == msg and status.code is None


# --------------------------------------------------------------------------- failures


def test_truncated_reply_raises_short_typed_error(fixture_bytes: Callable[[str], bytes]) -> None:
    raw = fixture_bytes(f"{AM}stats.json")
    with pytest.raises(CgminerProtocolError) as info:
        decode_reply(raw[: len(raw) // 2])
    assert info.value.reason.startswith("truncated reply")
    assert len(str(info.value)) < 200  # a snippet, never the payload


@pytest.mark.parametrize(
    "raw",
    [
        bytes(range(256)),
        b"\x89PNG\r\n\x1a\n" + b"\xff" * 500,
        b"<html>502 Bad Gateway</html>",
        b'{"STATUS":[{"STATUS":"S"}] @@@ }',
    ],
    ids=["all-bytes", "png", "html", "junk-after-json"],
)
def test_garbage_raises_protocol_error(raw: bytes) -> None:
    with pytest.raises(CgminerProtocolError) as info:
        decode_reply(raw * 100)
    assert len(str(info.value)) < 200


def test_empty_reply() -> None:
    with pytest.raises(CgminerProtocolError, match="empty reply"):
        decode_reply(b"\x00\x00 \n")


def test_reply_without_status() -> None:
    with pytest.raises(CgminerProtocolError, match="no STATUS"):
        parse_status({"SUMMARY": []})


# --------------------------------------------------------------------------- STATUS forms


def test_whatsminer_error_status_string() -> None:
    raw = b'{"STATUS":"E","When":1771351973,"Code":14,"Msg":"invalid cmd","Description":"x"}'
    with pytest.raises(CgminerCommandError) as info:
        check_status(decode_reply(raw), "version")
    assert info.value.code == 14


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (CODE_ACCESS_DENIED, "access denied (miner API is read-only for this host)"),
        (23, "miner rejected the request as invalid JSON (code 23)"),
        (14, "invalid command 'restart' (code 14)"),
        (26, "'restart' failed: Invalid pool id 9 - range is 0 - 2 (code 26)"),
    ],
)
def test_command_error_messages(code: int, text: str) -> None:
    msg = "Invalid pool id 9 - range is 0 - 2" if code == 26 else "whatever"
    assert str(CgminerCommandError(code, msg, "restart")) == text


def test_access_denied_status_raises_plain_message() -> None:
    raw = (
        b'{"STATUS":[{"STATUS":"E","When":1,"Code":45,'
        b'"Msg":"Access denied to \'restart\' command","Description":"cgminer 4.11.1"}],'
        b'"id":1}\x00'
    )
    with pytest.raises(CgminerCommandError) as info:
        check_status(decode_reply(raw), "restart")
    assert info.value.code == 45
    assert str(info.value) == "access denied (miner API is read-only for this host)"
    assert info.value.msg == "Access denied to 'restart' command"


# --------------------------------------------------------------------------- plain text


def test_plain_text_summary() -> None:
    raw = (
        b"STATUS=S,When=1795475479,Code=11,Msg=Summary,Description=cgminer 4.11.1|"
        b"SUMMARY,Elapsed=44,MHS av=0.00,MHS 5s=0.00,Accepted=0|\x00"
    )
    reply = decode_reply(raw)
    status = parse_status(reply)
    assert (status.status, status.code, status.msg, status.when) == ("S", 11, "Summary", 1795475479)
    assert status.description == "cgminer 4.11.1"
    assert reply["SUMMARY"] == [
        {"Elapsed": "44", "MHS av": "0.00", "MHS 5s": "0.00", "Accepted": "0"}
    ]


def test_plain_text_pools_with_escapes() -> None:
    raw = (
        "STATUS=S,When=1,Code=7,Msg=2 Pool(s),Description=cgminer 4.11.1|"
        "POOL=0,URL=stratum+tcp://a\\,b:3333,User=u\\=1,Status=Alive|"
        "POOL=1,URL=stratum+tcp://c:3333,User=w,Status=Dead|"
    )
    reply = decode_reply(raw)
    assert [p["URL"] for p in reply["POOLS"]] == ["stratum+tcp://a,b:3333", "stratum+tcp://c:3333"]
    assert reply["POOLS"][0]["User"] == "u=1"


def test_plain_text_stats_uses_command_hint() -> None:
    raw = "STATUS=S,When=1,Code=70,Msg=CGMiner stats|BMMiner=1.0.0,Type=Antminer S19|STATS=0,ID=X|"
    assert [r.get("ID") for r in decode_reply(raw)["STATS"]] == [None, "X"]
    assert len(parse_text_reply(raw, "stats")["STATS"]) == 2


def test_plain_text_joined_reply() -> None:
    raw = (
        "CMD=summary|STATUS=S,When=1,Code=11,Msg=Summary|SUMMARY,Elapsed=5|"
        "CMD=pools|STATUS=E,When=1,Code=8,Msg=No pools|"
    )
    parts = split_joined(decode_reply(raw))
    assert parts["summary"]["SUMMARY"] == [{"Elapsed": "5"}]
    assert parse_status(parts["pools"]).code == 8


def test_split_joined_rejects_single_reply() -> None:
    reply = {"STATUS": [{"STATUS": "S", "Code": 11}], "SUMMARY": [{"Elapsed": 1}]}
    assert not is_joined_reply(reply)
    with pytest.raises(CgminerProtocolError):
        split_joined(reply)
