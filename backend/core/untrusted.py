"""One policy for JSON that comes from outside: bounded in size and nesting before it is parsed.

Every byte stream we do not control (HTTP bodies, WebSocket frames, miner, provider, Bitmart and
ndau replies, Bruno files) goes through `loads`. A document that is too big, nested too deep or
malformed raises `UntrustedInputError` with a plain message that never echoes the input. The
nesting check walks the text once without recursion, so no document can exhaust the C stack or
Python's recursion limit, whatever a dependency set that limit to (see `pin_recursion_limit`).
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from itertools import accumulate
from typing import Any, Final

import orjson

DEFAULT_MAX_BYTES: Final = 1 << 20  # 1 MiB: HTTP bodies, WebSocket frames, provider replies
DEFAULT_MAX_DEPTH: Final = 64  # no wire shape of ours nests past ~8
PYTHON_RECURSION_LIMIT: Final = 1000  # CPython's default

# A JSON string, consumed possessively so that an unterminated one runs to the end of the text
# once instead of being retried from every quote (linear time on any input).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_STRING_BYTES = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


class UntrustedInputError(ValueError):
    """Input refused before or while parsing; the message is safe to show and to log."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def nesting_depth(data: str | bytes | bytearray | memoryview) -> int:
    """The deepest bracket nesting outside strings; malformed input is measured too."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    brackets = _STRING_BYTES.sub(b"", raw).translate(None, _NOT_BRACKET)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def check_bounds(
    data: str | bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "document",
) -> None:
    """Refuse a document larger than `max_bytes` or nested deeper than `max_depth`."""
    size = len(data)
    if size > max_bytes:
        raise UntrustedInputError(
            f"{what} too large: {size} bytes, the limit is {max_bytes}", too_large=True
        )
    text = data if isinstance(data, str | bytes) else bytes(data)
    if _openers(text) <= max_depth:  # each level needs an opening bracket: no scan needed
        return
    if nesting_depth(text) > max_depth:
        raise UntrustedInputError(f"{what} nested deeper than {max_depth} levels")


def _openers(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def loads(
    data: str | bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "document",
    decimal: bool = False,
) -> Any:
    """Parse strict JSON (no NaN/Infinity) within the bounds; `decimal` keeps floats exact."""
    check_bounds(data, max_bytes=max_bytes, max_depth=max_depth, what=what)
    try:
        if decimal:
            text = data if isinstance(data, str) else bytes(data).decode("utf-8")
            return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        return orjson.loads(data if isinstance(data, str | bytes) else bytes(data))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, digits
        raise UntrustedInputError(f"{what} is not valid JSON ({_reason(exc)})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reason(exc: BaseException) -> str:
    """The decoder's reason without any of the input (orjson quotes none; keep it short)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, json.JSONDecodeError | orjson.JSONDecodeError):
        return f"{exc.msg} at byte {exc.pos}"
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return str(exc)[:120]  # our own parse hooks and int's digit limit: no input in them


def pin_recursion_limit() -> None:
    """Put the recursion limit back to CPython's default.

    py_ecc (imported by the eth packages) raises it to 100,000 at import; C code that recurses
    (the json module, pydantic) then overflows the C stack and the process dies with SIGSEGV
    instead of raising RecursionError.
    """
    if sys.getrecursionlimit() != PYTHON_RECURSION_LIMIT:
        sys.setrecursionlimit(PYTHON_RECURSION_LIMIT)
