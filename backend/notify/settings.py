"""Settings of partner webhooks (backend.notify): delivery, retries, limits."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from backend.core.settings import CoreSettings


class NotifySettings(CoreSettings):
    """Where webhooks may go, how long a delivery may take, and when a target is given up."""

    webhooks_enabled: bool = True
    webhooks_allow_private: bool = False  # deliver to private/loopback addresses (tests, labs)
    webhooks_allow_http: bool = False  # plain http targets (otherwise https only)
    webhooks_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhooks_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18_000.0, 36_000.0], max_length=20
    )
    webhooks_disable_after: int = Field(default=20, ge=1, le=10_000)  # consecutive failed tries
    webhooks_concurrency: int = Field(default=8, ge=1, le=256)
    webhooks_max_per_partner: int = Field(default=20, ge=1, le=1000)
    webhooks_price_move_pct: float = Field(default=2.0, gt=0, le=100)

    @field_validator("webhooks_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        """Env and TOML may give the retry delays as "5,300,1800"."""
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value
