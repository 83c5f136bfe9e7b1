"""Metric sources for `GET /api/v1/analytics/historical`: each metric names where its history is.

The history lives with its domain: the market's and chain's services and recorder, the fleet's
samples (`backend/fleet/analytics.py`); this registry only joins them under one list of names.
A domain registers a `MetricSource` with `register_metric`; a metric that is known but has no
source in this build (or whose service is not running) is reported as unavailable, never invented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backend.chain.mempool import HASHRATE_PERIOD_DAYS
from backend.fleet.analytics import FLEET_METRICS, fleet_metric
from backend.market.coingecko import PERIOD_DAYS

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

_PRICE_PERIODS = tuple((label, days * 86_400.0) for label, days in PERIOD_DAYS.items())
_HASHRATE_PERIODS = tuple((label, days * 86_400.0) for label, days in HASHRATE_PERIOD_DAYS.items())


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
    points = [(_seconds(p.t), p.price_usd) for p in history.points]
    return [p for p in points if start <= p[0] <= end], f"market/{history.source}"


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
    points = [(_seconds(p.t), p.hashrate_ehs) for p in history.points]
    return [p for p in points if start <= p[0] <= end], f"chain/{history.source}"


def _recorded(metric: str) -> Callable[[Any, float, float], Awaitable[tuple[Points, str]]]:
    """Our own recorded samples (no provider serves difficulty or hashprice over time)."""

    async def fetch(backend: Any, start: float, end: float) -> tuple[Points, str]:
        rows = await _service(backend, "chain").recorder.series(metric, start, end)
        return [(t, value) for t, value, _source in rows], "recorded samples"

    return fetch


def _recorder_unavailable(backend: Any) -> str | None:
    service = _service(backend, "chain")
    if service is None or not hasattr(service, "recorder"):
        return "the chain service is not running in this backend"
    if not service.enabled:
        return "network data is disabled in this backend (market_enabled is false)"
    return None


# --- fleet metrics: the fleet aggregates its own samples (backend/fleet/analytics.py) ---------


def _fleet_unavailable(backend: Any) -> str | None:
    if _service(backend, "fleet") is None:
        return "the fleet service is not running in this backend"
    return None


def _fleet_fetch(metric: str) -> Callable[[Any, float, float], Awaitable[tuple[Points, str]]]:
    async def fetch(backend: Any, start: float, end: float) -> tuple[Points, str]:
        return await fleet_metric(backend.db, metric, start, end), "fleet samples"

    return fetch


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
    for metric in FLEET_METRICS:
        unit, text = KNOWN_METRICS[metric]
        _SOURCES.setdefault(
            metric, MetricSource(metric, unit, text, _fleet_fetch(metric), _fleet_unavailable)
        )
    for metric in ("difficulty", "hashprice"):
        unit, text = KNOWN_METRICS[metric]
        _SOURCES.setdefault(
            metric, MetricSource(metric, unit, text, _recorded(metric), _recorder_unavailable)
        )
    unit, text = KNOWN_METRICS["network_hashrate"]
    _SOURCES.setdefault(
        "network_hashrate",
        MetricSource("network_hashrate", unit, text, _network_hashrate, _chain_unavailable),
    )
