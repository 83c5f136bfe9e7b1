"""Report values become plain canonical JSON; nothing is guessed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from backend.notary.canonical import canonical_json
from backend.notary.report import iso, jsonable
from backend.notary.service import last_slot
from backend.sim.pinata import js_stringify


class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    y: float


def test_jsonable_maps_python_values_to_canonical_json() -> None:
    value = {
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "naive": datetime(2024, 1, 2),
        "big": 2**60,
        "nan": float("nan"),
        "price": Decimal("1.50"),
        "color": Color.RED,
        "raw": b"\x01\xff",
        "point": Point(1, 2.5),
        "tags": {"b", "a"},
        1: (1, 2),
    }
    out = jsonable(value)
    assert out == {
        "when": "2024-01-02T01:04:05Z",
        "naive": "2024-01-02T00:00:00Z",
        "big": str(2**60),
        "nan": None,
        "price": Decimal("1.50"),
        "color": "red",
        "raw": "0x01ff",
        "point": {"x": 1, "y": 2.5},
        "tags": ["a", "b"],
        "1": [1, 2],
    }
    assert canonical_json(out).startswith(b'{"1":[1,2],"big":')
    assert iso(datetime(2024, 5, 1, tzinfo=UTC)) == "2024-05-01T00:00:00Z"


def test_js_stringify_orders_keys_like_javascript() -> None:
    assert js_stringify({"b": 1, "10": 2, "9": 3, "a": [1.0, 1e-7, 1e21]}) == (
        '{"9":3,"10":2,"b":1,"a":[1,1e-7,1e+21]}'
    )


def test_daily_slot_is_the_last_one_at_or_before_now() -> None:
    now = datetime(2024, 3, 10, 0, 5, tzinfo=UTC)
    assert last_slot(now, "00:10") == datetime(2024, 3, 9, 0, 10, tzinfo=UTC)
    assert last_slot(now.replace(minute=10), "00:10") == now.replace(minute=10)
    assert last_slot(now.replace(hour=23), "00:10") == datetime(2024, 3, 10, 0, 10, tzinfo=UTC)
