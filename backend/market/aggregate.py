"""Cross-venue view: total volume, volume-weighted price, spread, and how complete the view is.

Only venues that answered this round take part; a venue that failed keeps its last good ticker
for display, marked stale, but is left out of the aggregate. USDT/USDC quotes are taken at par
with USD (stated in the answer), and nothing quoted in any other currency is mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backend.market.models import VenueTicker
from hashinsight_contract.market import AggregateOut, VenueOut

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

    def out(self, now: float, stale_after_s: float) -> VenueOut:
        """The venue as the API shows it: its last good ticker, stale unless it answered this
        round with a recent one."""
        t = self.ticker
        return VenueOut(
            venue=self.venue,
            status=self.status,
            error=self.error,
            latency_ms=self.latency_ms,
            checked_at=self.checked_at,
            source=self.venue,
            instrument=t.instrument if t else None,
            quote=t.quote if t else None,
            price=t.price if t else None,
            change_24h_pct=t.change_24h_pct if t else None,
            volume_24h_btc=t.volume_24h_btc if t else None,
            volume_24h_quote=t.volume_24h_quote if t else None,
            bid=t.bid if t else None,
            ask=t.ask if t else None,
            index_price_usd=t.index_price_usd if t else None,
            as_of=t.as_of if t else None,
            age_s=round(max(0.0, now - t.as_of), 1) if t else None,
            stale=t is None or self.status != "ok" or now - t.as_of > stale_after_s,
        )


def aggregate(states: list[VenueState], now: float, stale_after_s: float) -> AggregateOut:
    answered = [s for s in states if s.status == "ok" and s.ticker is not None]
    usable = [
        s.ticker
        for s in answered
        if s.ticker is not None
        and s.ticker.quote in AT_PAR_WITH_USD
        and now - s.ticker.as_of <= stale_after_s
    ]
    total = len(states)
    total_volume_btc = vwap_usd = total_volume_usd = None
    with_btc = [t for t in usable if t.volume_24h_btc is not None and t.volume_24h_btc > 0]
    if with_btc:
        total_volume_btc = sum(t.volume_24h_btc or 0.0 for t in with_btc)
        vwap_usd = sum(t.price * (t.volume_24h_btc or 0.0) for t in with_btc) / total_volume_btc
    with_usd = [t.volume_24h_quote for t in usable if t.volume_24h_quote is not None]
    if with_usd:
        total_volume_usd = sum(v for v in with_usd if v is not None)
    high = max(usable, key=lambda t: t.price) if len(usable) >= 2 else None
    low = min(usable, key=lambda t: t.price) if len(usable) >= 2 else None
    return AggregateOut(
        venues_total=total,
        venues_ok=len(answered),
        completeness_pct=round(len(answered) / total * 100, 1) if total else 0.0,
        venues_in_aggregate=[t.venue for t in usable],
        total_volume_btc=total_volume_btc,
        total_volume_usd=total_volume_usd,
        vwap_usd=vwap_usd,
        spread_usd=high.price - low.price if high and low else None,
        spread_pct=(high.price - low.price) / low.price * 100 if high and low else None,
        high_venue=high.venue if high else None,
        low_venue=low.venue if low else None,
        as_of=min((t.as_of for t in usable), default=None),
        source="aggregate of " + ", ".join(t.venue for t in usable) if usable else None,
        note=PAR_NOTE,
    )
