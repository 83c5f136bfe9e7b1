"""Canonical JSON must be byte-exact RFC 8785 so third parties can recompute our hashes."""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from backend.notary.canonical import CanonicalJSONError, canonical_json, format_number


def test_sorted_keys_no_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2, {"d": None, "c": True}]}) == (
        b'{"a":[1,2,{"c":true,"d":null}],"b":1}'
    )


def test_nested_and_tuple() -> None:
    doc = {"z": {"y": {"x": []}}, "list": ({"b": False, "a": "s"},), "e": {}}
    assert canonical_json(doc) == b'{"e":{},"list":[{"a":"s","b":false}],"z":{"y":{"x":[]}}}'


def test_unicode_is_literal_utf8() -> None:
    assert canonical_json({"名": "café €😀"}) == '{"名":"café €😀"}'.encode()
    assert canonical_json("\u2028\x7f") == '"\u2028\x7f"'.encode()


def test_control_characters_escaped_lowercase() -> None:
    assert canonical_json('\b\t\n\f\r\x0f\x1f"\\/') == b'"\\b\\t\\n\\f\\r\\u000f\\u001f\\"\\\\/"'


def test_rfc8785_section_3_2_2_example() -> None:
    # RFC 8785 §3.2.2 input (parsed from its JSON text) and §3.2.3 output, byte for byte.
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


def test_rfc8785_utf16_key_order() -> None:
    # RFC 8785 §3.2.3: keys sort by UTF-16 code units, so U+1F600 (D83D DE00) precedes U+FB33.
    doc = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(doc)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


# RFC 8785 Appendix B: IEEE-754 bit pattern -> ECMAScript string.
NUMBER_VECTORS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), NUMBER_VECTORS)
def test_rfc8785_number_vectors(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == expected
    assert canonical_json(value) == expected.encode()


def test_simple_numbers() -> None:
    assert canonical_json([1.0, -2.5, 0.1, 100, -7, 1e-7, 123e18]) == (
        b"[1,-2.5,0.1,100,-7,1e-7,123000000000000000000]"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_refused(bad: float) -> None:
    with pytest.raises(CanonicalJSONError, match="finite"):
        canonical_json({"v": [bad]})


def test_integer_range() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    assert canonical_json(-(2**53 - 1)) == b"-9007199254740991"
    with pytest.raises(CanonicalJSONError, match="2\\*\\*53"):
        canonical_json({"sats": 2**53 + 1})  # a double reader would read 2**53
    with pytest.raises(CanonicalJSONError, match="2\\*\\*53"):
        canonical_json({"sats": 123_456_789_012_345_678})


def test_a_big_double_read_back_as_an_integer_gives_the_same_bytes() -> None:
    """JCS writes the double 1.5e16 in plain digits; a verifier's JSON reader gives it back as
    an int, and canonicalizing that must give the very bytes that were hashed."""
    doc = {"difficulty": 1.5e16, "work": 2.0**60, "debt": -9.999e20}
    once = canonical_json(doc)
    expected = b'{"debt":-999900000000000000000,"difficulty":15000000000000000,'
    assert once == expected + b'"work":1152921504606847000}'
    assert canonical_json(json.loads(once)) == once


def test_decimal_becomes_exact_string() -> None:
    assert canonical_json({"btc": Decimal("0.00012300")}) == b'{"btc":"0.00012300"}'
    with pytest.raises(CanonicalJSONError):
        canonical_json(Decimal("NaN"))
    with pytest.raises(CanonicalJSONError):
        canonical_json(Decimal("Infinity"))


@pytest.mark.parametrize(
    "bad",
    [
        b"bytes",
        {1: "int key"},
        {("t",): 1},
        {1, 2},
        datetime(2024, 1, 1, tzinfo=UTC),
        object(),
        "\ud800",  # lone surrogate
        {"\udfff": 1},
    ],
)
def test_non_json_values_refused(bad: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json({"x": bad})


def test_cycle_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalJSONError, match="circular"):
        canonical_json(loop)
    shared = [1]
    assert canonical_json([shared, shared]) == b"[[1],[1]]"  # repeats are not cycles


def test_round_trip_is_stable() -> None:
    doc = {"a": [0.1, 1e30, -0.0, Decimal("5.10"), "ü\n", None], "b": {"c": 2**40}}
    once = canonical_json(doc)
    assert canonical_json(json.loads(once)) == once
