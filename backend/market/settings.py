"""Settings of the price and exchange pollers (backend.market)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from backend.core.settings import split_names
from backend.providers.settings import ProviderSettings

LEGACY_ENV: dict[str, str] = {"COINGECKO_API_KEY": "coingecko_api_key"}


class MarketSettings(ProviderSettings):
    """Price providers in fallback order, exchanges, and how often each is polled."""

    coingecko_api_key: SecretStr | None = None
    coingecko_url: str = "https://api.coingecko.com/api/v3"
    okx_url: str = "https://www.okx.com"
    binance_url: str = "https://api.binance.com"
    deribit_url: str = "https://www.deribit.com/api/v2"
    bybit_url: str = "https://api.bybit.com"
    price_sources: list[Literal["coingecko", "blockchain_info", "mempool"]] = Field(
        default_factory=lambda: ["coingecko", "blockchain_info", "mempool"], min_length=1
    )
    price_poll_s: float = Field(default=30.0, gt=0, le=3600)  # CoinGecko free: 50 calls/min
    exchanges_poll_s: float = Field(default=15.0, gt=0, le=3600)
    exchange_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # With DATABASE_URL and REDIS_URL one process polls the providers (the `market` lease); a
    # holder that stops renewing is replaced after this long.
    market_lease_ttl_s: float = Field(default=30.0, ge=1, le=600)

    @field_validator("price_sources", mode="before")
    @classmethod
    def _split_price_sources(cls, value: Any) -> Any:
        """Env and TOML may give the fallback order as "a,b,c"."""
        return split_names(value)
