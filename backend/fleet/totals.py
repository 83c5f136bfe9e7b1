"""The fleet's totals from its miners' figures: one sum for the poller and for the fleet view.

A collecting process sums its poll states; an API instance that polls nothing sums the states it
follows (`FleetView`). Both answer `/api/v1/fleet/summary` with the same figures, so they share
this one summing rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

from backend.fleet.plausible import MAX_HASHRATE_THS, MAX_POWER_W, usable


class MinerFigures(NamedTuple):
    status: str
    site: str | None
    hashrate_ths: float | None
    expected_ths: float | None
    power_w: float | None
    revenue_usd_day: float | None
    cost_usd_day: float | None


def fleet_totals(miners: Iterable[MinerFigures]) -> dict[str, Any]:
    """Counts per status, hashrate against expected, power and efficiency of online miners,
    revenue, cost and profit (None when no miner has one), and per-site counts."""
    counts = {"online": 0, "offline": 0, "error": 0, "sleeping": 0}
    hashrate = expected = power = eff_power = eff_rate = revenue = cost = 0.0
    have_revenue = have_cost = False
    total = 0
    sites: dict[str | None, dict[str, Any]] = {}
    for miner in miners:
        total += 1
        counts[miner.status] = counts.get(miner.status, 0) + 1
        site = sites.get(miner.site)
        if site is None:
            site = sites[miner.site] = {
                "site": miner.site,
                "total": 0,
                "online": 0,
                "hashrate_ths": 0.0,
            }
        site["total"] += 1
        if miner.status == "online":
            # only plausible figures add up (the normaliser flags the rest as suspect, but a
            # stored state or another process's event may predate that rule)
            rate = usable(miner.hashrate_ths, MAX_HASHRATE_THS)
            watts = usable(miner.power_w, MAX_POWER_W)
            site["online"] += 1
            if rate is not None:
                hashrate += rate
                site["hashrate_ths"] += rate
            # a firmware that states no expected rate counts at its own rate, so the fleet's
            # "TH/s vs expected" compares like with like
            expected_rate = usable(miner.expected_ths, MAX_HASHRATE_THS)
            basis = expected_rate if expected_rate is not None else rate
            if basis is not None:
                expected += basis
            if watts is not None:
                power += watts
                if rate:
                    eff_power += watts
                    eff_rate += rate
        if miner.revenue_usd_day is not None and math.isfinite(miner.revenue_usd_day):
            revenue += miner.revenue_usd_day
            have_revenue = True
        if miner.cost_usd_day is not None and math.isfinite(miner.cost_usd_day):
            cost += miner.cost_usd_day
            have_cost = True
    for site in sites.values():
        site["hashrate_ths"] = round(site["hashrate_ths"], 3)
    return {
        "total": total,
        **counts,
        "hashrate_ths": round(hashrate, 3),
        "hashrate_expected_ths": round(expected, 3),
        "power_kw": round(power / 1000, 3),
        "efficiency_jth": round(eff_power / eff_rate, 2) if eff_rate else None,
        "revenue_usd_day": round(revenue, 2) if have_revenue else None,
        "cost_usd_day": round(cost, 2) if have_cost else None,
        "profit_usd_day": round(revenue - cost, 2) if have_revenue and have_cost else None,
        "sites": sorted(sites.values(), key=lambda s: (s["site"] is None, s["site"] or "")),
    }
