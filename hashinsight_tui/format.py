"""How every screen prints times, ages, durations, ids and statuses: one place, one look.

A value the backend did not give is DASH, never a zero or an empty cell. Times from the API are
ISO-8601 UTC text and print at the precision named by the caller (`when(iso, SECONDS)`), so each
table states how exact its column is instead of each screen slicing strings its own way. Every
time prints in UTC (`when_epoch` for epoch seconds), and says so: a column header, a title or
the time itself carries "UTC".
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from rich.text import Text

DASH = "—"

STATUS_COLOURS = {
    "ok": "green",
    "degraded": "yellow",
    "down": "red",
    "unknown": "dim",
    "disabled": "dim",
}


class Precision(NamedTuple):
    """Which part of `YYYY-MM-DD HH:MM:SS` a time prints (a slice of that text)."""

    start: int
    end: int


DATE_MINUTES = Precision(0, 16)  # 2026-05-01 12:34: keys, partners, webhooks (they outlive a year)
DAY_MINUTES = Precision(5, 16)  # 05-01 12:34: notarizations, logins
DAY_SECONDS = Precision(5, 19)  # 05-01 12:34:56: issuer decisions and trades
TIME_SECONDS = Precision(11, 19)  # 12:34:56: the second end of a same-day range


def when_epoch(epoch: float | None, precision: Precision) -> str:
    """`when` for epoch seconds: the console prints every time in UTC, as the API gives them
    (a time in this machine's zone beside the API's would read an hour or a day apart)."""
    if epoch is None:
        return DASH
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))[precision.start : precision.end]


def when(iso: str | None, precision: Precision) -> str:
    """An ISO-8601 time at `precision` (UTC, as the API gives it); DASH when there is none."""
    if not iso or len(iso) < precision.end:
        return DASH
    return f"{iso[:10]} {iso[11:19]}"[precision.start : precision.end]


def age(seconds: float | None) -> str:
    """A duration at the one unit a person reads: `42s`, `7m`, `3.5h`, `2.1d`."""
    if seconds is None:
        return DASH
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def ago(seconds: float | None) -> str:
    """`42s ago`; DASH when the age is unknown."""
    return DASH if seconds is None else f"{age(seconds)} ago"


def since(timestamp: float | None, now: float | None = None) -> str:
    """How long ago an epoch time was (at `now`, else this moment), or `never`."""
    return "never" if timestamp is None else ago((now or time.time()) - timestamp)


def local_age(as_of: float | None) -> float | None:
    """Seconds since an epoch time, by this machine's clock (never negative)."""
    return None if as_of is None else max(0.0, time.time() - as_of)


def short(value: str | None, head: int, tail: int = 0) -> str:
    """A long id cut to its first `head` (and last `tail`) characters around an ellipsis."""
    if not value:
        return DASH
    if len(value) <= head + tail + 1:
        return value
    return f"{value[:head]}…{value[-tail:] if tail else ''}"


def ndau(text: str | None) -> str:
    """Exact ndau text with thousands separators ("12,500.00000000"); never via a float."""
    if text is None:
        return DASH
    try:
        return format(Decimal(text), ",f")
    except InvalidOperation:
        return text


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_COLOURS.get(status, "white"))


def latency(ms: float | None) -> str:
    return DASH if ms is None else f"{ms:.1f} ms"
