"""Settings of API-key access (backend.auth): per-key rate limits and the failed-auth throttle."""

from __future__ import annotations

from pydantic import Field

from backend.core.settings import CoreSettings


class AuthSettings(CoreSettings):
    """Per-key rate limits (partner tiers are fixed in backend/auth/tiers.py; operator keys get
    these), how failed attempts slow a client down, and how often key usage is written."""

    ratelimit_enabled: bool = True
    ratelimit_operator_per_min: int = Field(default=6000, ge=1, le=10_000_000)
    ratelimit_operator_per_hour: int = Field(default=300_000, ge=1, le=100_000_000)
    auth_fail_window_s: float = Field(default=600.0, ge=1, le=86_400)
    auth_fail_slow_after: int = Field(default=5, ge=1, le=100_000)  # failures before slowing down
    auth_fail_block_after: int = Field(default=30, ge=1, le=1_000_000)  # failures before blocking
    auth_block_s: float = Field(default=900.0, ge=1, le=7 * 86_400)
    auth_slow_max_s: float = Field(default=2.0, ge=0, le=30)
    key_usage_flush_s: float = Field(default=30.0, ge=0.1, le=3600)
