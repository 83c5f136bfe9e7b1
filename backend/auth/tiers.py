"""Tiers: what a key may do per minute and per hour, on the WebSocket, and in bulk.

Partner tiers are the published plans; the operator tier is set in the settings so consoles are
never throttled in normal use.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.auth.settings import AuthSettings
from hashinsight_contract.partners import TierLimits


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    per_minute: int
    per_hour: int
    ws_connections: int  # open WebSocket connections per key (0: no WebSocket)
    ws_subscriptions: int  # channels subscribed, summed over the key's connections
    bulk_export: bool

    def limits(self) -> TierLimits:
        """The tier as the API shows it."""
        return TierLimits(
            tier=self.name,
            per_minute=self.per_minute,
            per_hour=self.per_hour,
            websocket=self.ws_connections > 0,
            ws_connections=self.ws_connections,
            ws_subscriptions=self.ws_subscriptions,
            bulk_export=self.bulk_export,
        )


PARTNER_TIERS: dict[str, Tier] = {
    "basic": Tier("basic", 100, 5_000, 0, 0, False),
    "pro": Tier("pro", 1_000, 50_000, 5, 20, False),
    "enterprise": Tier("enterprise", 10_000, 500_000, 50, 200, True),
}
PARTNER_TIER_NAMES: tuple[str, ...] = tuple(PARTNER_TIERS)

# Scopes a partner key gets by default on each tier.
DEFAULT_PARTNER_SCOPES: dict[str, tuple[str, ...]] = {
    "basic": ("read",),
    "pro": ("read", "stream"),
    "enterprise": ("read", "stream", "export"),
}


def tier_for(name: str, settings: AuthSettings) -> Tier:
    """The limits of a tier by name; unknown names get the strictest partner tier."""
    if name == "operator":
        return Tier(
            "operator",
            settings.ratelimit_operator_per_min,
            settings.ratelimit_operator_per_hour,
            100,
            1_000,
            True,
        )
    return PARTNER_TIERS.get(name, PARTNER_TIERS["basic"])
