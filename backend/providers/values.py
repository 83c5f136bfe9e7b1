"""What every market and chain number carries (its source and time), and strict payload parsing.

Providers disagree on units and on types (numbers, numeric strings, nulls); the helpers here turn a
payload field into a float or raise `PayloadError` naming the field, so a malformed answer is
rejected as a whole instead of leaking a half-parsed value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from backend.core.http import ProviderClient, ProviderError

T = TypeVar("T")
Via = Literal["live", "cache", "none"]


class PayloadError(ValueError):
    """A provider answered 2xx with something we cannot use (wrong shape, type, or unit)."""


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """One accepted value: who said it (`source`) and when it was true (`as_of`, epoch seconds)."""

    value: T
    source: str
    as_of: float
    fetched_at: float

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.as_of)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one provider did in one round of a fallback chain."""

    source: str
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ok": self.ok, "error": self.error}


def freshness(reading: Reading[Any], via: Via, now: float, stale_after_s: float) -> dict[str, Any]:
    """`source`, `as_of`, `age_s` and `stale`: a cached or old value is never presented as fresh."""
    age = reading.age_s(now)
    return {
        "source": reading.source,
        "as_of": reading.as_of,
        "age_s": round(age, 1),
        "stale": via != "live" or age > stale_after_s,
        "via": via,
    }


def num(data: Mapping[str, Any], key: str, where: str) -> float:
    """A required finite number (JSON number or numeric string)."""
    value = opt_num(data, key, where)
    if value is None:
        raise PayloadError(f"{where}: '{key}' is missing")
    return value


def opt_num(data: Mapping[str, Any], key: str, where: str) -> float | None:
    """An optional finite number: None when absent, null or an empty string."""
    if not isinstance(data, Mapping):
        raise PayloadError(f"{where}: expected an object, got {type(data).__name__}")
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{where}: '{key}' is a boolean, not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise PayloadError(f"{where}: '{key}' is not numeric: {value[:40]!r}") from None
    else:
        raise PayloadError(f"{where}: '{key}' has type {type(value).__name__}, not a number")
    if not math.isfinite(result):
        raise PayloadError(f"{where}: '{key}' is not finite")
    return result


def obj(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PayloadError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def seconds_from_ms(value: float, where: str) -> float:
    """Epoch milliseconds → seconds, refusing values that are plainly not milliseconds."""
    if not 1e11 < value < 1e14:
        raise PayloadError(f"{where}: {value:g} is not an epoch time in milliseconds")
    return value / 1000.0


def seconds_epoch(value: float, where: str) -> float:
    """Epoch seconds, refusing milliseconds passed by mistake (the classic unit mix-up)."""
    if not 1e8 < value < 1e11:
        raise PayloadError(f"{where}: {value:g} is not an epoch time in seconds")
    return value


def rejected(provider: ProviderClient, reason: str) -> ProviderError:
    """Count an unusable 2xx answer against the provider's health and return the error to raise."""
    provider.report_bad_payload(reason)
    return ProviderError(provider.name, reason)
