"""The Network screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class NetworkScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Network"
    WHAT_IT_WILL_SHOW = (
        "Network hashrate and difficulty, the next adjustment, tip height and latest blocks, "
        "and hashprice."
    )
