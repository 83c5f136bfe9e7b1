"""The Issuer screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class IssuerScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Issuer"
    WHAT_IT_WILL_SHOW = (
        "The Bitmart to ndau issuer: status, cursor, signer connection, Issue transactions "
        "and their states, approve and reject."
    )
