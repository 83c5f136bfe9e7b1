"""The Notary & Wallets screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class NotaryScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Notary & Wallets"
    WHAT_IT_WILL_SHOW = (
        "Notarized reports with their signature, IPFS pin and anchor transaction, a verify "
        "action, and the wallet login log."
    )
