"""Which miner readings are physically possible, and the note kept when one is not.

A firmware that reports a negative hashrate, NaN, ``"abc"`` or a 5,000-digit counter is
broken or hostile; such a reading must not pass for a measurement. The normaliser checks
each value it has already parsed against the ranges below (a comparison or two: this is on
the hot path of every sweep); a value outside them becomes unknown (None) and the miner is
flagged with a plain reason such as ``suspect data: negative hashrate``.
"""

from __future__ import annotations

from typing import Any, Final

from backend.fleet.codec import make_snippet

SUSPECT_PREFIX: Final = "suspect data: "

MAX_HASHRATE_THS: Final = 10_000.0  # 10 PH/s: no single miner comes within 20x of it
TEMP_MIN_C: Final = -40.0
TEMP_MAX_C: Final = 150.0
MAX_FAN_RPM: Final = 30_000
MAX_POWER_W: Final = 20_000.0
MAX_COUNT: Final = 10**15  # shares, errors: far beyond any lifetime, exact as a float
MAX_CHIPS: Final = 10_000
MAX_UPTIME_S: Final = 20 * 365 * 86_400
MAX_REASONS: Final = 4

# Strings firmwares use for "no reading": absent, not wrong.
_PLACEHOLDERS: Final = frozenset({"-", "--", "n/a", "na", "none", "null", "unknown", "?"})


class Audit:
    """The implausible readings of one poll (empty for a sane miner)."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[str] = []

    def mark(self) -> int:
        """A point to ask ``clean_since`` about."""
        return len(self.problems)

    def clean_since(self, mark: int) -> bool:
        """Whether nothing was flagged since ``mark``."""
        return len(self.problems) == mark

    def unreadable(self, what: str, raw: Any) -> None:
        """``raw`` was given where a number belongs and is none: note why (blanks aside)."""
        why = _unreadable(what, raw)
        if why is not None:
            self.problems.append(why)

    def bounded(
        self, what: str, value: float | None, high: float, low: float = 0.0, unit: str = ""
    ) -> float | None:
        """``value`` if within [low, high], else None with a note."""
        if value is None or low <= value <= high:
            return value
        self.out_of_range(what, value, unit, low)
        return None

    def count(self, what: str, value: int | None, high: int = MAX_COUNT) -> int | None:
        """A counter: a whole number in [0, high]."""
        if value is None or 0 <= value <= high:
            return value
        self.out_of_range(what, value)
        return None

    def out_of_range(self, what: str, value: float, unit: str = "", low: float = 0.0) -> None:
        if value < 0 and low == 0:
            self.problems.append(f"negative {what}")
        elif isinstance(value, int) and abs(value) > 10**15:
            self.problems.append(f"{what} out of range")  # do not print a 300-digit number
        else:
            self.problems.append(f"{what} {value:.6g}{unit} out of range")

    def reason(self) -> str | None:
        """``suspect data: ...`` naming each distinct problem (a few), or None when sane."""
        if not self.problems:
            return None
        distinct = list(dict.fromkeys(self.problems))
        shown = "; ".join(distinct[:MAX_REASONS])
        more = len(distinct) - MAX_REASONS
        return f"{SUSPECT_PREFIX}{shown}" + (f" (and {more} more)" if more > 0 else "")


def _unreadable(what: str, raw: Any) -> str | None:
    if isinstance(raw, str):
        text = raw.strip()
        if not text or text.lower() in _PLACEHOLDERS:
            return None
        try:
            float(text)
        except ValueError:
            return f'{what} "{make_snippet(text, 24)}" is not a number'
        # float() read it, so it was nan/inf (the only number words: all hold an "n") or
        # a number too large for a float ("1e999", 400 digits)
        return f"{what} is not finite" if "n" in text.lower() else f"{what} out of range"
    if isinstance(raw, bool):
        return f"{what} is not a number"
    if isinstance(raw, float):
        return f"{what} is not finite"
    if isinstance(raw, int):
        return f"{what} out of range"
    return f"{what} is not a number"  # a list or an object


def is_suspect(error: str | None) -> bool:
    """Whether a snapshot's error is a suspect-data flag (the miner answered)."""
    return error is not None and error.startswith(SUSPECT_PREFIX)


def usable(value: float | None, high: float) -> float | None:
    """``value`` if it is a finite reading in [0, high], else None.

    For figures that arrive already built (stored states, another process's events): a sum
    or a price is never fed a NaN, a negative or an absurd value, whoever produced it.
    """
    if value is None or not 0 <= value <= high:  # NaN fails every comparison
        return None
    return value
