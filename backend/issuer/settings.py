"""Settings of the Bitmart → ndau issuer (backend.issuer).

Bitmart keys live in files, never in settings: <config dir>/bitmart/*apikey.json, or
issuer_bitmart_key_file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from backend.core.settings import CoreSettings


class IssuerSettings(CoreSettings):
    """Where sales are read and ndau issued, how often, and who may sign."""

    bitmart_url: str = "https://api-cloud.bitmart.com"
    ndau_node_url: str = "https://mainnet-0.ndau.tech:3030"
    issuer_enabled: bool = True
    issuer_mode: Literal["auto", "semi_auto"] = "semi_auto"
    issuer_symbol: str = "NDAU_USDT"
    issuer_bitmart_key_file: Path | None = None
    issuer_start_at: str | None = None  # first start only: "now" or an ISO-8601 time
    issuer_poll_s: float = Field(default=30.0, ge=0.05, le=3600)
    issuer_settle_s: float = Field(default=10.0, ge=0, le=3600)
    issuer_max_window_s: float = Field(default=86_400.0, ge=1, le=30 * 86_400)
    # Every poll re-reads this much before the cursor: Bitmart can list a trade after a later
    # one, and a sale that shows up late must still be issued (trade ids make it count once).
    issuer_lookback_s: float = Field(default=900.0, ge=0, le=7 * 86_400)
    issuer_lease_ttl_s: float = Field(default=30.0, ge=1, le=600)
    issuer_sign_timeout_s: float = Field(default=30.0, gt=0, le=600)
    issuer_approval_alert_s: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    issuer_signer_keys: str = ""  # allow-listed signer identity keys (npub…), comma separated
    issuer_demo_signer_config: Path | None = None  # demo only: run this signer.toml in-process

    @field_validator("issuer_start_at")
    @classmethod
    def _issuer_start_at(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "now":
            return None if value is None else "now"
        from datetime import datetime

        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                'must be "now" or an ISO-8601 time such as 2025-01-31T00:00:00Z'
            ) from None
        if parsed.tzinfo is None:
            raise ValueError("needs a timezone (e.g. a trailing Z for UTC)")
        return value.strip()
