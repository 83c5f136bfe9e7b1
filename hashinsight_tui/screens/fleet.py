"""The Fleet screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class FleetScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Fleet"
    WHAT_IT_WILL_SHOW = (
        "Every miner of the fleet: summary bar, heat-map grid, sortable table, per-miner "
        "detail, and actions such as restart and switch pool."
    )
