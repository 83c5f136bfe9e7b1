"""Settings of the provider machinery that market and chain share: on/off, retries, the
plausibility guard, fallbacks, the history cache and our own recorded samples."""

from __future__ import annotations

from pydantic import Field

from backend.core.settings import CoreSettings


class ProviderSettings(CoreSettings):
    """Shared by the price (backend.market) and network (backend.chain) pollers."""

    market_enabled: bool = True  # poll price, exchange, network and block providers
    blockchain_info_url: str = "https://blockchain.info"
    mempool_url: str = "https://mempool.space/api"
    market_retries: int = Field(default=1, ge=0, le=5)
    price_stale_after_s: float = Field(default=180.0, gt=0, le=86400)
    history_cache_s: float = Field(default=300.0, gt=0, le=86400)
    price_max_jump_pct: float = Field(default=25.0, gt=0, le=1000)
    hashrate_max_ratio: float = Field(default=10.0, gt=1, le=1e6)
    guard_reset_after_s: float = Field(default=900.0, gt=0, le=86400)
    fallback_probe_s: float = Field(default=600.0, gt=0, le=86400)  # health of idle fallbacks
    # Our own history: at most one recorded sample per metric this often, kept this long.
    market_record_s: float = Field(default=60.0, ge=0, le=86400)
    market_keep_days: float = Field(default=400.0, gt=0, le=3650)
