"""Screens whose capability has not been built yet: an honest empty state each."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult

from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.widgets.empty_state import EmptyState


class PendingCapabilityScreen(BaseScreen):
    """Base for a screen that says plainly what is not there yet."""

    WHAT_IT_WILL_SHOW: ClassVar[str] = ""

    def compose_body(self) -> ComposeResult:
        yield EmptyState(
            f"{self.SCREEN_TITLE}: not available yet",
            f"{self.WHAT_IT_WILL_SHOW}\n\nThis backend does not provide it yet, so this screen "
            "shows nothing rather than made-up numbers. The Health screen (key 8) shows what is "
            "live.",
        )
