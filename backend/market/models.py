"""Market value types. Units are in the field names; prices are USD unless `quote` says USDT."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """BTC spot price. `change_24h_pct` is a percent (3.6 means +3.6 %), None when unknown."""

    price_usd: float
    change_24h_pct: float | None
    volume_24h_usd: float | None
    market_cap_usd: float | None = None


@dataclass(frozen=True, slots=True)
class PricePoint:
    t: float  # epoch seconds
    price_usd: float


@dataclass(frozen=True, slots=True)
class VenueTicker:
    """One exchange's BTC ticker, normalised: percent change, volumes in BTC and in the quote."""

    venue: str
    instrument: str
    quote: str  # currency `price` is quoted in: "USD" or "USDT" (taken at par in the aggregate)
    price: float
    change_24h_pct: float | None
    volume_24h_btc: float | None
    volume_24h_quote: float | None
    bid: float | None
    ask: float | None
    as_of: float
    index_price_usd: float | None = None  # Deribit's BTC index next to its own trade price

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
