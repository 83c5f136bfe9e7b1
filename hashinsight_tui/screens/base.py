"""What every console screen shares: the status bar, the prompt line, read-only handling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.command_line import PromptLine
from hashinsight_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from hashinsight_tui.app import HashInsightApp


class BaseScreen(Screen[None]):
    """A top-level screen of the console (one per mode)."""

    SCREEN_TITLE: ClassVar[str] = ""
    # Bus channels this screen follows live (subscribed once for the whole console).
    CHANNELS: ClassVar[tuple[str, ...]] = ()
    # Actions that change something: hidden and refused when the key is read-only.
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    @property
    def hi_app(self) -> HashInsightApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield from self.compose_body()
        yield PromptLine()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    _view_ready = False

    def on_mount(self) -> None:
        # Textual calls this for every class in the MRO, after the composed children are mounted.
        self._view_ready = True
        self.hi_app.render_current()

    def on_screen_resume(self) -> None:
        self.hi_app.render_current()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.WRITE_ACTIONS and self.hi_app.read_only)

    def render_store(self, store: Store, *, paused: bool, stale_after_s: float) -> None:
        """Called by the app, in one batch, when new data has been applied (or the clock ticks)."""
        if not self._view_ready or not self.is_attached:  # not mounted yet, or tearing down
            return
        for bar in self.query(StatusBar):
            bar.show(store, self.SCREEN_TITLE, paused, stale_after_s)
        if not paused:
            self.refresh_view(store)

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        """REST snapshots this screen needs (name -> value). Runs in a worker: no widgets here."""
        return {}

    def refresh_view(self, store: Store) -> None:
        """Draw this screen's data; screens with data override it."""

    def apply_filter(self, text: str) -> None:
        """Live `/` filter; screens with rows override it."""

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        """`:screen key=value` arguments; screens with filters override it."""
        if "q" in arguments:
            self.apply_filter(arguments["q"])
