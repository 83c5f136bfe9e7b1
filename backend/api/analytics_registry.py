"""Metric sources for `GET /api/v1/analytics/historical`: each metric names where its history is.

A domain registers a `MetricSource` with `register_metric`; a metric that is known but has no
source in this build (or whose service is not running) is reported as unavailable, never invented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Points = list[tuple[float, float]]  # (unix seconds, value)

KNOWN_METRICS: dict[str, tuple[str, str]] = {
    "btc_price": ("USD", "BTC price in US dollars"),
    "network_hashrate": ("EH/s", "Bitcoin network hashrate"),
    "difficulty": ("", "Bitcoin mining difficulty"),
    "hashprice": ("USD/PH/day", "Expected revenue per petahash per day"),
    "fleet_hashrate": ("TH/s", "Hashrate of the whole fleet"),
    "fleet_power": ("W", "Power drawn by the whole fleet"),
    "fleet_efficiency": ("J/TH", "Energy per terahash of the fleet"),
    "online_miners": ("miners", "Miners answering their API"),
}


@dataclass(frozen=True)
class MetricSource:
    name: str
    unit: str
    description: str
    # (backend, start, end) -> (points within [start, end], source label)
    fetch: Callable[[Any, float, float], Awaitable[tuple[Points, str]]]
    # Why there is no history from this backend right now (None: there is).
    unavailable: Callable[[Any], str | None]


class MetricUnavailable(Exception):
    """The metric is known but its history cannot be served; the message says why."""


_SOURCES: dict[str, MetricSource] = {}


def register_metric(source: MetricSource) -> None:
    _SOURCES[source.name] = source


def get_source(name: str) -> MetricSource | None:
    _ensure_builtins()
    return _SOURCES.get(name)


def metrics() -> list[str]:
    _ensure_builtins()
    return sorted(set(KNOWN_METRICS) | set(_SOURCES))


def _seconds(t: float) -> float:
    return t / 1000 if t > 1e11 else t


def _service(backend: Any, name: str) -> Any:
    return getattr(backend, "services_by_name", {}).get(name)


def _pick(periods: tuple[tuple[str, float], ...], span_s: float) -> str:
    for label, seconds in periods:
        if seconds >= span_s:
            return label
    return periods[-1][0]


# --- built-in sources ----------------------------------------------------------------------------

_PRICE_PERIODS = (("1d", 86_400.0), ("7d", 7 * 86_400.0), ("30d", 30 * 86_400.0))
_HASHRATE_PERIODS = (
    ("3d", 3 * 86_400.0),
    ("1w", 7 * 86_400.0),
    ("1m", 31 * 86_400.0),
    ("3m", 92 * 86_400.0),
    ("6m", 183 * 86_400.0),
    ("1y", 366 * 86_400.0),
)


def _market_unavailable(backend: Any) -> str | None:
    service = _service(backend, "market")
    if service is None or not hasattr(service, "history"):
        return "the market service is not running in this backend"
    return None


async def _btc_price(backend: Any, start: float, end: float) -> tuple[Points, str]:
    import time

    service = _service(backend, "market")
    period = _pick(_PRICE_PERIODS, time.time() - start)
    try:
        history = await service.history(period)
    except Exception as exc:  # the service says why (provider down, disabled...)
        raise MetricUnavailable(f"btc_price history: {exc}") from None
    points = [(_seconds(float(p["t"])), float(p["price_usd"])) for p in history.get("points", [])]
    return [p for p in points if start <= p[0] <= end], f"market/{history.get('source', period)}"


def _chain_unavailable(backend: Any) -> str | None:
    service = _service(backend, "chain")
    if service is None or not hasattr(service, "hashrate_history"):
        return "the chain service is not running in this backend"
    return None


async def _network_hashrate(backend: Any, start: float, end: float) -> tuple[Points, str]:
    import time

    service = _service(backend, "chain")
    period = _pick(_HASHRATE_PERIODS, time.time() - start)
    try:
        history = await service.hashrate_history(period)
    except Exception as exc:
        raise MetricUnavailable(f"network_hashrate history: {exc}") from None
    points = [
        (_seconds(float(p["t"])), float(p["hashrate_ehs"])) for p in history.get("points", [])
    ]
    return [p for p in points if start <= p[0] <= end], f"chain/{history.get('source', period)}"


_builtins_done = False


def _ensure_builtins() -> None:
    global _builtins_done
    if _builtins_done:
        return
    _builtins_done = True
    unit, text = KNOWN_METRICS["btc_price"]
    _SOURCES.setdefault(
        "btc_price", MetricSource("btc_price", unit, text, _btc_price, _market_unavailable)
    )
    unit, text = KNOWN_METRICS["network_hashrate"]
    _SOURCES.setdefault(
        "network_hashrate",
        MetricSource("network_hashrate", unit, text, _network_hashrate, _chain_unavailable),
    )
