"""Response shapes of the market routes. Every value says where it came from and how old it is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Via = Literal["live", "cache", "none"]


class Freshness(BaseModel):
    source: str = Field(description="Provider the value came from (or 'computed')")
    as_of: float = Field(description="When the value was true, epoch seconds (provider time)")
    age_s: float = Field(description="Seconds between `as_of` and this answer")
    stale: bool = Field(description="True when cached after a failure or older than the limit")
    via: Via = Field(description="'live': fetched in the last round; 'cache': last good value")


class AttemptOut(BaseModel):
    source: str
    ok: bool
    error: str | None


class PriceCurrent(Freshness):
    price_usd: float
    change_24h_pct: float | None = Field(
        description="24 h change in percent (3.6 = +3.6 %); null when the source gives none"
    )
    volume_24h_usd: float | None
    market_cap_usd: float | None
    attempts: list[AttemptOut] = Field(description="How each provider did in the last round")
    fallback_order: list[str]


class PricePointOut(BaseModel):
    t: float = Field(description="epoch seconds")
    price_usd: float


class PriceHistory(Freshness):
    period: Literal["1d", "7d", "30d"]
    points: list[PricePointOut]
    error: str | None = Field(description="Why the cache is served, when it is")


class VenueOut(BaseModel):
    venue: str
    status: Literal["ok", "error", "unknown"]
    error: str | None
    latency_ms: float | None
    checked_at: float | None
    source: str
    instrument: str | None
    quote: str | None = Field(description="Currency `price` is quoted in (USD or USDT)")
    price: float | None
    change_24h_pct: float | None = Field(description="percent")
    volume_24h_btc: float | None
    volume_24h_quote: float | None = Field(description="24 h volume in the quote currency")
    bid: float | None
    ask: float | None
    index_price_usd: float | None
    as_of: float | None
    age_s: float | None
    stale: bool = Field(description="True when the venue failed its last round (last good shown)")


class AggregateOut(BaseModel):
    venues_total: int
    venues_ok: int
    completeness_pct: float = Field(description="Share of venues that answered the last round")
    venues_in_aggregate: list[str]
    total_volume_btc: float | None
    total_volume_usd: float | None
    vwap_usd: float | None = Field(description="Price weighted by each venue's 24 h BTC volume")
    spread_usd: float | None
    spread_pct: float | None = Field(description="(highest − lowest) / lowest × 100")
    high_venue: str | None
    low_venue: str | None
    as_of: float | None = Field(description="Oldest `as_of` among the venues aggregated")
    source: str | None
    note: str


class ExchangesOut(BaseModel):
    venues: list[VenueOut]
    aggregate: AggregateOut
    checked_at: float | None
