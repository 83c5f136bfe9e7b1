"""Revenue, power cost and profit per day for a miner, from hashprice and the power price.

    revenue_usd_day = hashrate_ths x hashprice_usd_per_th_day
    cost_usd_day    = power_w / 1000 x 24 h x power_price_usd_kwh
    profit_usd_day  = revenue - cost

A miner whose firmware reports no power (stock Antminer bmminer, plain CGMiner) has no cost of
its own; the fleet's totals may estimate it from the model's nameplate power (`nameplate_w`),
always counted and labelled apart from measured power.

Hashprice comes from the chain service when one runs (``stats()["hashprice_usd_per_th_day"]``);
without it revenue and profit are null, never a guess. The average hashrate is the basis
when the miner reports one (the 5 s value is noise for money).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backend.fleet.plausible import MAX_HASHRATE_THS, MAX_POWER_W, usable

if TYPE_CHECKING:
    from backend.fleet.normalize import MinerSnapshot

log = logging.getLogger("hashinsight.fleet")

HASHPRICE_SERVICES = ("chain", "network", "market")
# Past this age a hashprice prices nothing: revenue and profit are unknown rather than computed
# from a market hours behind (the chain service keeps serving its last inputs when every
# provider fails).
MAX_HASHPRICE_AGE_S = 3600.0
# Manufacturers' stated wall power of common models (W), keyed by `model_key`. An estimate for a
# miner that reports none; never shown as a measurement.
NAMEPLATE_W: dict[str, float] = {
    "s19": 3250.0,
    "s19pro": 3250.0,
    "s19jpro": 3068.0,
    "s19jpro+": 3355.0,
    "s19xp": 3010.0,
    "s19kpro": 2760.0,
    "s21": 3500.0,
    "s21pro": 3510.0,
    "t21": 3610.0,
    "m30s": 3268.0,
    "m30s+": 3400.0,
    "m30s++": 3472.0,
    "m31s": 3220.0,
    "m50": 3276.0,
    "m50s": 3306.0,
}
_MODEL_NOISE = re.compile(r"antminer|whatsminer|bitmain|microbt|\s+|v\d+$")
Money = tuple[float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class Hashprice:
    """One sweep's hashprice and what it is as of: a stale one still prices the fleet, and says
    so; one older than ``MAX_HASHPRICE_AGE_S`` does not (``usd_per_th_day`` None)."""

    usd_per_th_day: float | None
    as_of: float | None = None  # when its BTC price was true, epoch seconds
    stale: bool = False

    def fields(self) -> dict[str, Any]:
        """The fleet summary's hashprice fields."""
        return {
            "hashprice_usd_per_th_day": self.usd_per_th_day,
            "hashprice_as_of": self.as_of,
            "hashprice_stale": self.stale,
        }


NO_HASHPRICE = Hashprice(None)


def read_hashprice(services: Mapping[str, Any], now: float) -> Hashprice:
    """USD per TH/s per day from whichever running service offers it, with its age."""
    for name in HASHPRICE_SERVICES:
        service = services.get(name)
        stats: Callable[[], Any] | None = getattr(service, "stats", None)
        if stats is None:
            continue
        try:
            data = stats()
        except Exception as exc:  # the chain service raises when it has no data yet
            log.debug("no hashprice from %s: %s", name, exc)
            continue
        value = data.get("hashprice_usd_per_th_day") if isinstance(data, Mapping) else None
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            continue
        as_of, stale = _price_age(data.get("hashprice"))
        if as_of is None:
            return Hashprice(float(value))
        if now - as_of > MAX_HASHPRICE_AGE_S:
            return Hashprice(None, as_of, True)
        return Hashprice(float(value), as_of, stale)
    return NO_HASHPRICE


def _price_age(detail: Any) -> tuple[float | None, bool]:
    """When the hashprice's BTC price was true, and whether a provider stopped updating an
    input. Not the oldest input's time: the network figures are as of the tip block, which is
    routinely half an hour old on a healthy chain and says nothing about our providers."""
    if not isinstance(detail, Mapping):
        return None, False
    inputs = detail.get("inputs")
    if not isinstance(inputs, Mapping):
        as_of = detail.get("as_of")
        usable_at = isinstance(as_of, int | float) and math.isfinite(as_of)
        return (float(as_of) if usable_at else None), bool(detail.get("stale"))
    price = inputs.get("price_usd")
    as_of = price.get("as_of") if isinstance(price, Mapping) else None
    if not (isinstance(as_of, int | float) and math.isfinite(as_of)):
        return None, False
    cached = any(isinstance(i, Mapping) and i.get("via") == "cache" for i in inputs.values())
    return float(as_of), cached or bool(price.get("stale"))


def model_key(model: str | None) -> str:
    """'Antminer S19 Pro' -> 's19pro', 'M31SV10' -> 'm31s': the maker and variant suffix go."""
    return _MODEL_NOISE.sub("", (model or "").lower())


def nameplate_w(model: str | None) -> float | None:
    """The model's stated power in watts, or None when the model is not in the table."""
    return NAMEPLATE_W.get(model_key(model)) if model else None


def power_cost(power_w: float, power_price_usd_kwh: float) -> float:
    return power_w / 1000.0 * 24.0 * power_price_usd_kwh


def miner_money(
    status: str,
    hashrate_ths: float | None,
    hashrate_avg_ths: float | None,
    power_w: float | None,
    hashprice: float | None,
    power_price_usd_kwh: float,
) -> Money:
    """(revenue, cost, profit) per day; None where an input is missing or implausible.

    An ``error`` miner (suspect data included: see ``plausible``) earns nothing we can state.
    """
    if status in ("offline", "error"):
        return None, None, None
    hashrate_avg_ths = usable(hashrate_avg_ths, MAX_HASHRATE_THS)
    hashrate_ths = usable(hashrate_ths, MAX_HASHRATE_THS)
    power_w = usable(power_w, MAX_POWER_W)
    basis = hashrate_avg_ths if hashrate_avg_ths is not None else hashrate_ths
    if status == "sleeping" and basis is None:
        basis = 0.0
    revenue = basis * hashprice if basis is not None and hashprice is not None else None
    cost = power_cost(power_w, power_price_usd_kwh) if power_w is not None else None
    profit = revenue - cost if revenue is not None and cost is not None else None
    return _r(revenue), _r(cost), _r(profit)


class Prices:
    """One sweep's prices, applied to each miner's reading (read once, not per miner)."""

    __slots__ = ("hashprice", "power_price_usd_kwh")

    def __init__(self, hashprice: float | None, power_price_usd_kwh: float) -> None:
        self.hashprice = hashprice
        self.power_price_usd_kwh = power_price_usd_kwh

    def money(self, snap: MinerSnapshot) -> Money:
        return miner_money(
            snap.status,
            snap.hashrate_ths,
            snap.hashrate_avg_ths,
            snap.power_w,
            self.hashprice,
            self.power_price_usd_kwh,
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
