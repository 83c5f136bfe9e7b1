"""The API Keys screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class KeysScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "API Keys"
    WHAT_IT_WILL_SHOW = (
        "API keys and partners: create (shown once), revoke, change mode, and webhook "
        "delivery logs."
    )
