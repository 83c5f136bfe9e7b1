"""Cross-venue view: total volume, volume-weighted price, spread, and how complete the view is.

Only venues that answered this round take part; a venue that failed keeps its last good ticker
for display, marked stale, but is left out of the aggregate. USDT/USDC quotes are taken at par
with USD (stated in the answer), and nothing quoted in any other currency is mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from backend.market.models import VenueTicker

AT_PAR_WITH_USD = frozenset({"USD", "USDT", "USDC", "FDUSD"})
PAR_NOTE = "USD, USDT and USDC quotes are taken at par; volumes in BTC and in USD are kept apart"


@dataclass(slots=True)
class VenueState:
    venue: str
    status: Literal["ok", "error", "unknown"] = "unknown"
    ticker: VenueTicker | None = None  # the last good one
    error: str | None = None
    latency_ms: float | None = None
    checked_at: float | None = None

    def to_dict(self, now: float, stale_after_s: float) -> dict[str, Any]:
        ticker = self.ticker
        data: dict[str, Any] = {
            "venue": self.venue,
            "status": self.status,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "checked_at": self.checked_at,
            "source": self.venue,
            "instrument": ticker.instrument if ticker else None,
            "quote": ticker.quote if ticker else None,
            "price": ticker.price if ticker else None,
            "change_24h_pct": ticker.change_24h_pct if ticker else None,
            "volume_24h_btc": ticker.volume_24h_btc if ticker else None,
            "volume_24h_quote": ticker.volume_24h_quote if ticker else None,
            "bid": ticker.bid if ticker else None,
            "ask": ticker.ask if ticker else None,
            "index_price_usd": ticker.index_price_usd if ticker else None,
            "as_of": ticker.as_of if ticker else None,
            "age_s": round(max(0.0, now - ticker.as_of), 1) if ticker else None,
            "stale": True,
        }
        if ticker is not None:
            data["stale"] = self.status != "ok" or now - ticker.as_of > stale_after_s
        return data


def aggregate(states: list[VenueState], now: float, stale_after_s: float) -> dict[str, Any]:
    answered = [s for s in states if s.status == "ok" and s.ticker is not None]
    usable = [
        s.ticker
        for s in answered
        if s.ticker is not None
        and s.ticker.quote in AT_PAR_WITH_USD
        and now - s.ticker.as_of <= stale_after_s
    ]
    total = len(states)
    result: dict[str, Any] = {
        "venues_total": total,
        "venues_ok": len(answered),
        "completeness_pct": round(len(answered) / total * 100, 1) if total else 0.0,
        "venues_in_aggregate": [t.venue for t in usable],
        "total_volume_btc": None,
        "total_volume_usd": None,
        "vwap_usd": None,
        "spread_usd": None,
        "spread_pct": None,
        "high_venue": None,
        "low_venue": None,
        "as_of": min((t.as_of for t in usable), default=None),
        "source": "aggregate of " + ", ".join(t.venue for t in usable) if usable else None,
        "note": PAR_NOTE,
    }
    with_btc = [t for t in usable if t.volume_24h_btc is not None and t.volume_24h_btc > 0]
    if with_btc:
        volume = sum(t.volume_24h_btc or 0.0 for t in with_btc)
        result["total_volume_btc"] = volume
        result["vwap_usd"] = sum(t.price * (t.volume_24h_btc or 0.0) for t in with_btc) / volume
    with_usd = [t.volume_24h_quote for t in usable if t.volume_24h_quote is not None]
    if with_usd:
        result["total_volume_usd"] = sum(v for v in with_usd if v is not None)
    if len(usable) >= 2:
        high = max(usable, key=lambda t: t.price)
        low = min(usable, key=lambda t: t.price)
        result["spread_usd"] = high.price - low.price
        result["spread_pct"] = (high.price - low.price) / low.price * 100
        result["high_venue"] = high.venue
        result["low_venue"] = low.venue
    return result
