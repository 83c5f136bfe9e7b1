"""Canonical JSON: RFC 8785 (JCS) bytes, so a notarised document hashes the same everywhere.

The rules, enough to recompute the bytes in any language:

* Output is UTF-8 with no whitespace; object members sorted by key compared as UTF-16 code
  units (RFC 8785 §3.2.3; equals code-point order except around non-BMP characters).
* Strings: ``"`` and ``\\`` escaped; U+0008/09/0A/0C/0D as ``\\b \\t \\n \\f \\r``; other
  controls below U+0020 as ``\\u00xx`` (lowercase hex); everything else literal. Strings
  that are not valid Unicode (lone surrogates) are refused.
* ``float``: finite only (NaN/±Infinity refused), written as ECMAScript ``Number.toString``
  (RFC 8785 §3.2.2.3): shortest round-trip digits, ``-0`` as ``0``, exponent form only below
  1e-6 or from 1e21 up (``1e+21``, ``5e-324``).
* ``int``: only within ±(2**53 − 1), written in plain decimal; outside it every JCS (double)
  reader would change the value, so pass big integers as strings instead.
* ``decimal.Decimal``: finite only, emitted as a JSON *string* holding ``str(value)``
  (exact and scale-preserving: ``Decimal("1.50")`` → ``"1.50"``). This is our one extension
  to JCS; since the output is an ordinary string, parsing the JSON and canonicalizing it again
  gives identical bytes.
* ``None``/``bool``/``str``/``list``/``tuple``/``dict`` with ``str`` keys map as usual;
  anything else (bytes, datetime, sets, non-str keys, cycles) raises ``CanonicalJSONError``.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJSONError(ValueError):
    """The value has no canonical JSON form under the rules above."""


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` to canonical (RFC 8785) JSON bytes."""
    parts: list[str] = []
    _encode(obj, parts, set(), "$")
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"string is not valid Unicode (lone surrogate?): {exc}") from None


def _encode(obj: Any, out: list[str], active: set[int], path: str) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, int):
        if abs(obj) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"{path}: integer outside ±(2**53-1); pass it as a string")
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        out.append(format_number(obj, path))
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise CanonicalJSONError(f"{path}: non-finite Decimal {obj}")
        out.append(json.dumps(str(obj)))
    elif isinstance(obj, dict | list | tuple):
        if id(obj) in active:
            raise CanonicalJSONError(f"{path}: circular reference")
        active.add(id(obj))
        if isinstance(obj, dict):
            _encode_object(obj, out, active, path)
        else:
            out.append("[")
            for i, item in enumerate(obj):
                if i:
                    out.append(",")
                _encode(item, out, active, f"{path}[{i}]")
            out.append("]")
        active.discard(id(obj))
    else:
        raise CanonicalJSONError(f"{path}: {type(obj).__name__} is not a JSON type")


def _encode_object(obj: dict[Any, Any], out: list[str], active: set[int], path: str) -> None:
    for key in obj:
        if not isinstance(key, str):
            raise CanonicalJSONError(f"{path}: object key {key!r} is not a str")
    out.append("{")
    for i, key in enumerate(sorted(obj, key=_utf16_key)):
        if i:
            out.append(",")
        out.append(json.dumps(key, ensure_ascii=False))
        out.append(":")
        _encode(obj[key], out, active, f"{path}.{key}")
    out.append("}")


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like UTF-16 code units.
    return key.encode("utf-16-be", "surrogatepass")


def format_number(value: float, path: str = "$") -> str:
    """ECMAScript ``Number.prototype.toString`` for a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise CanonicalJSONError(f"{path}: {value} is not a finite number (NaN/Infinity)")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-trip digits, as ECMAScript requires.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    raw = int_part + frac_part
    stripped = raw.lstrip("0")
    digits = stripped.rstrip("0")
    k = len(digits)
    # value = 0.d1d2…dk × 10**n
    n = len(int_part) + int(exp_text or 0) - (len(raw) - len(stripped))
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        exp = n - 1
        head = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{head}e{'+' if exp > 0 else '-'}{abs(exp)}"
    return sign + body
