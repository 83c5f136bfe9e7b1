"""The fleet's totals from its miners' figures: one sum for the poller and for the fleet view.

A collecting process sums its poll states; an API instance that polls nothing sums the states it
follows (`FleetView`). Both answer `/api/v1/fleet/summary` with the same figures, so they share
this one summing rule.

Coverage is part of the answer, never left to the reader: stock Antminer and plain CGMiner
firmware report no power, so measured power, J/TH and cost cover only some of the online miners.
The summary says how many (`coverage`), adds a nameplate estimate for the rest where the model
is known (kept apart: `power_estimated_kw`, `cost_estimated_usd_day`), and states profit only
over miners whose cost is known, measured or estimated: revenue of a miner without a cost is
never netted against other miners' costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

from backend.fleet.economics import nameplate_w, power_cost
from backend.fleet.plausible import MAX_HASHRATE_THS, MAX_POWER_W, usable


class MinerFigures(NamedTuple):
    status: str
    site: str | None
    hashrate_ths: float | None
    expected_ths: float | None
    power_w: float | None
    revenue_usd_day: float | None
    cost_usd_day: float | None
    model: str | None = None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def fleet_totals(
    miners: Iterable[MinerFigures], power_price_usd_kwh: float | None = None
) -> dict[str, Any]:
    """Counts per status, hashrate against expected, power and efficiency of online miners,
    revenue, cost and profit (None when no miner has one), per-site counts, and how many
    miners each figure covers (`coverage`)."""
    counts = {"online": 0, "offline": 0, "error": 0, "sleeping": 0}
    hashrate = expected = power = eff_power = eff_rate = revenue = cost = 0.0
    est_power = est_cost = profit = 0.0
    measured_n = estimated_n = revenue_n = profit_n = profit_est_n = 0
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
                measured_n += 1
                power += watts
                if rate:
                    eff_power += watts
                    eff_rate += rate
        earned = miner.revenue_usd_day if _finite(miner.revenue_usd_day) else None
        spent = miner.cost_usd_day if _finite(miner.cost_usd_day) else None
        estimated = False
        unmeasured = usable(miner.power_w, MAX_POWER_W) is None
        if spent is None and miner.status == "online" and unmeasured:
            guess = nameplate_w(miner.model)
            if guess is not None:
                estimated_n += 1
                est_power += guess
                if power_price_usd_kwh is not None:
                    spent = power_cost(guess, power_price_usd_kwh)
                    est_cost += spent
                    estimated = True
        elif spent is not None:
            cost += spent
            have_cost = True
        if earned is not None:
            revenue += earned
            revenue_n += 1
            have_revenue = True
            if spent is not None:  # profit only where this miner's own cost is known
                profit += earned - spent
                profit_n += 1
                profit_est_n += estimated
    for site in sites.values():
        site["hashrate_ths"] = round(site["hashrate_ths"], 3)
    return {
        "total": total,
        **counts,
        "hashrate_ths": round(hashrate, 3),
        "hashrate_expected_ths": round(expected, 3),
        "power_kw": round(power / 1000, 3),
        "power_estimated_kw": round(est_power / 1000, 3),
        "efficiency_jth": round(eff_power / eff_rate, 2) if eff_rate else None,
        "revenue_usd_day": round(revenue, 2) if have_revenue else None,
        "cost_usd_day": round(cost, 2) if have_cost else None,
        "cost_estimated_usd_day": round(est_cost, 2) if profit_est_n else None,
        "profit_usd_day": round(profit, 2) if profit_n else None,
        "coverage": {
            "online": counts["online"],
            "power_measured": measured_n,
            "power_estimated": estimated_n,
            "revenue": revenue_n,
            "profit": profit_n,
            "profit_estimated": profit_est_n,
        },
        "sites": sorted(sites.values(), key=lambda s: (s["site"] is None, s["site"] or "")),
    }
