"""The Prices screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class PricesScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Prices"
    WHAT_IT_WILL_SHOW = (
        "Live BTC price with 24h change and chart, the exchanges table with per-venue status,"
        " and the source and age of every number."
    )
