"""What every console screen shares: the status bar, the prompt line, read-only handling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.screen import Screen

from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.commands import complete_command, complete_filter
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.command_line import PromptBar, PromptLine
from hashinsight_tui.widgets.key_footer import KeyFooter
from hashinsight_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from hashinsight_tui.app import HashInsightApp


class BaseScreen(Screen[None]):
    """A top-level screen of the console (one per mode)."""

    SCREEN_TITLE: ClassVar[str] = ""
    # Bus channels this screen follows live (subscribed once for the whole console).
    CHANNELS: ClassVar[tuple[str, ...]] = ()
    # Redraw for streamed events at the next clock tick (once a second) instead of at once: for
    # a screen whose rows change several times a second and show their own age anyway.
    RENDER_ON_TICK: ClassVar[bool] = False
    # Actions that change something: hidden and refused when the key is read-only.
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    # `:screen key=value` arguments this screen understands, with the values completion offers
    # (empty: any value). `q` is the free-text filter every screen with rows takes.
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Which of those arguments filter rows: `esc` clears them, the status bar shows them.
    FILTER_ARGUMENTS: ClassVar[tuple[str, ...]] = ("q",)
    # `key=value` words the `/` filter itself understands (completed while typing).
    FILTER_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        # The filter in force as the operator set it (`q`: the `/` text), shown in the status bar.
        self.filters: dict[str, str] = {}

    @property
    def hi_app(self) -> HashInsightApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield from self.compose_body()
        yield PromptBar()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    _view_ready = False

    def on_mount(self) -> None:
        # Textual calls this for every class in the MRO, after the composed children are mounted.
        self._view_ready = True
        self.query_one(PromptLine).completer = self.complete
        self.hi_app.render_current()

    def on_screen_resume(self) -> None:
        self.hi_app.render_current()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.WRITE_ACTIONS and self.hi_app.read_only)

    def render_store(
        self, store: Store, *, paused: bool, stale_after_s: float, shown: Store | None = None
    ) -> None:
        """Called by the app, in one batch, when new data has been applied (or the clock ticks).

        `shown` is the data to draw when it is not `store` (paused: the store as it was at the
        pause, on this screen or any other switched to meanwhile, so no screen shows older data
        than the pause says, and the ages on screen go on counting); `store` gives the status
        bar its live connection state."""
        if not self._view_ready or not self.is_attached:  # not mounted yet, or tearing down
            return
        self.show_status(store, paused=paused, stale_after_s=stale_after_s)
        self.refresh_view(shown or store)

    def show_status(self, store: Store, *, paused: bool, stale_after_s: float) -> None:
        # While paused the screen still shows the data of the moment of the pause.
        shown_at = self.hi_app.paused_data_at if paused else store.updated_at
        for bar in self.query(StatusBar):
            bar.show(
                store,
                self.SCREEN_TITLE,
                paused,
                stale_after_s,
                shown_at=shown_at,
                filter_text=self.filter_summary(),
                alerts=self.hi_app.alerts.counts() if self.hi_app.alerts.loaded else None,
            )

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        """REST snapshots this screen needs (name -> value). Runs in a worker: no widgets here."""
        return {}

    def refresh_view(self, store: Store) -> None:
        """Draw this screen's data; screens with data override it."""

    def apply_filter(self, text: str) -> None:
        """Live `/` filter; screens with rows override it."""

    def apply_arguments(self, arguments: dict[str, str]) -> None:
        """`:screen key=value` arguments; screens with filters override it. Like the status bar,
        a command's arguments replace the filter in force (no `q`: no text filter)."""
        self.apply_filter(arguments.get("q", ""))

    def reset_filters(self) -> None:
        """Drop every filter (`esc`); screens with filters beyond the text override it."""
        self.apply_arguments({"q": ""})

    # --- the filter in force, as the operator set it (the app calls these) ---------------------

    def set_filter(self, text: str) -> None:
        """The `/` text; filters set by a `:` command stay."""
        self.filters = {k: v for k, v in self.filters.items() if k != "q"}
        if text:
            self.filters["q"] = text
        self.apply_filter(text)
        self._status_now()

    def set_arguments(self, arguments: dict[str, str]) -> None:
        """`:screen key=value`: its filter arguments replace the filter in force."""
        self.filters = {
            key: value for key, value in arguments.items() if key in self.FILTER_ARGUMENTS and value
        }
        self.apply_arguments(arguments)
        self._status_now()

    def clear_filters(self) -> bool:
        """`esc` on the screen: False when no filter was in force (so the key can go on)."""
        if not self.filters:
            return False
        self.filters = {}
        self.reset_filters()
        self._status_now()
        return True

    def filter_summary(self) -> str:
        filters = self.filters
        words = [f"{key}={value}" for key, value in filters.items() if key != "q"]
        if filters.get("q"):
            words.append(filters["q"])
        return " ".join(words)

    def _status_now(self) -> None:
        app = self.hi_app
        if self._view_ready and self.is_attached:
            self.show_status(app.store, paused=app.paused, stale_after_s=app.stale_after_s)

    def complete(self, kind: str, text: str) -> list[str]:
        """Completions for the prompt line: commands and arguments, or this screen's fields."""
        if kind == "filter":
            return complete_filter(text, self.FILTER_FIELDS)
        from hashinsight_tui.app import SCREENS

        screens = {name: cls.ARGUMENTS for name, _, _, cls in SCREENS}
        return complete_command(text, screens, self.app.available_themes)
