"""The Playground screen."""

from __future__ import annotations

from hashinsight_tui.screens.placeholder import PendingCapabilityScreen


class PlaygroundScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Playground"
    WHAT_IT_WILL_SHOW = (
        "Every API endpoint from the Bruno collection: pick one, edit it, send it with a "
        "chosen key, and read the answer."
    )
