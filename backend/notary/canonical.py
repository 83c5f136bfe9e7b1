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
* ``int``: within ±(2**53 − 1), written in plain decimal; outside it only the digits JCS
  writes for some double below 1e21 (what a JSON reader makes of a big double JCS wrote in
  plain digits), as that double; any other would change in every JCS (double) reader, so
  pass big integers as strings instead.
* ``decimal.Decimal``: finite only, emitted as a JSON *string* holding ``str(value)``
  (exact and scale-preserving: ``Decimal("1.50")`` → ``"1.50"``). This is our one extension
  to JCS; since the output is an ordinary string, parsing the JSON and canonicalizing it again
  gives identical bytes.
* ``None``/``bool``/``str``/``list``/``tuple``/``dict`` with ``str`` keys map as usual;
  anything else (bytes, datetime, sets, non-str keys, cycles) raises ``CanonicalJSONError``.

The JCS serialization itself (key order, string escapes, ECMAScript numbers) is Trail of Bits'
``rfc8785`` package; this module adds the Decimal extension, cycle detection and errors that
name the offending path, and turns every library error into ``CanonicalJSONError``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1

# What rfc8785 can raise for a value it refuses; UnicodeError covers lone surrogates in keys.
_LIBRARY_ERRORS = (rfc8785.CanonicalizationError, UnicodeError, RecursionError)


class CanonicalJSONError(ValueError):
    """The value has no canonical JSON form under the rules above."""


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` to canonical (RFC 8785) JSON bytes."""
    plain = _plain(obj, set(), "$")
    try:
        return rfc8785.dumps(plain)
    except _LIBRARY_ERRORS as exc:
        raise CanonicalJSONError(f"no canonical JSON form: {exc}") from None


def _plain(obj: Any, active: set[int], path: str) -> Any:
    """Check ``obj`` against the rules (naming the path) and swap Decimals for their strings."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return _check_unicode(obj, path)
    if isinstance(obj, int):
        if abs(obj) > MAX_SAFE_INTEGER:
            return _whole_double(obj, path)
        return obj
    if isinstance(obj, float):
        _check_finite(obj, path)
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise CanonicalJSONError(f"{path}: non-finite Decimal {obj}")
        return str(obj)
    if not isinstance(obj, dict | list | tuple):
        raise CanonicalJSONError(f"{path}: {type(obj).__name__} is not a JSON type")
    if id(obj) in active:
        raise CanonicalJSONError(f"{path}: circular reference")
    active.add(id(obj))
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object key {key!r} is not a str")
            _check_unicode(key, path)
        result: Any = {key: _plain(value, active, f"{path}.{key}") for key, value in obj.items()}
    else:
        result = [_plain(item, active, f"{path}[{i}]") for i, item in enumerate(obj)]
    active.discard(id(obj))
    return result


def _whole_double(value: int, path: str) -> float:
    """A big integer written exactly as JCS writes some double is that double: JCS writes the
    double 1.5e16 as ``15000000000000000`` (2**60 as ``1152921504606847000``), which a JSON
    reader gives back as an int, and the same bytes must come out again when a verifier
    canonicalizes what it read."""
    as_double = float(value) if abs(value) < 1e21 else math.inf
    if not math.isfinite(as_double) or rfc8785.dumps(as_double) != str(value).encode():
        raise CanonicalJSONError(f"{path}: integer outside ±(2**53-1); pass it as a string")
    return as_double


def _check_unicode(text: str, path: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError(f"{path}: string is not valid Unicode (lone surrogate?)") from None
    return text


def _check_finite(value: float, path: str) -> None:
    if not math.isfinite(value):
        raise CanonicalJSONError(f"{path}: {value} is not a finite number (NaN/Infinity)")


def format_number(value: float, path: str = "$") -> str:
    """ECMAScript ``Number.prototype.toString`` for a finite double (RFC 8785 §3.2.2.3)."""
    _check_finite(value, path)
    return rfc8785.dumps(float(value)).decode("ascii")
