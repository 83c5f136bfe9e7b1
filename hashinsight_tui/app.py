"""The HashInsight console: a Textual app that is a pure client of the backend API."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.keys import _normalize_key_list
from textual.screen import ModalScreen

from hashinsight_contract.fleet import AlertView
from hashinsight_tui.client import ApiError, ConnectionLost, HashInsightClient, HealthReport
from hashinsight_tui.commands import ScreensProvider, parse_command
from hashinsight_tui.connection import KeySource, connection_loop, token_file_source, use_key
from hashinsight_tui.messages import (
    AlertsLoaded,
    ConnectionChanged,
    HealthLoaded,
    KeyLoaded,
    KeyNeeded,
    SnapshotFailed,
    SnapshotsLoaded,
    StreamBatch,
)
from hashinsight_tui.screens.alerts import AlertBoard, AlertsScreen
from hashinsight_tui.screens.approvals import ApprovalsScreen
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.fleet import FleetScreen
from hashinsight_tui.screens.health import HealthScreen
from hashinsight_tui.screens.help import HelpScreen
from hashinsight_tui.screens.issuer import IssuerScreen
from hashinsight_tui.screens.key_prompt import KeyPromptScreen
from hashinsight_tui.screens.keys import KeysScreen
from hashinsight_tui.screens.network import NetworkScreen
from hashinsight_tui.screens.notary import NotaryScreen
from hashinsight_tui.screens.playground import PlaygroundScreen
from hashinsight_tui.screens.prices import PricesScreen
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.command_line import PromptLine

# (mode name, title, key, screen class): the order is the order of the number keys.
SCREENS: list[tuple[str, str, str, type[BaseScreen]]] = [
    ("prices", "Prices", "1", PricesScreen),
    ("network", "Network", "2", NetworkScreen),
    ("fleet", "Fleet", "3", FleetScreen),
    ("notary", "Notary & Wallets", "4", NotaryScreen),
    ("keys", "API Keys", "5", KeysScreen),
    ("playground", "Playground", "6", PlaygroundScreen),
    ("issuer", "Issuer", "7", IssuerScreen),
    ("health", "Health", "8", HealthScreen),
    ("approvals", "Approvals", "9", ApprovalsScreen),
    ("alerts", "Alerts", "0", AlertsScreen),
]
SCREEN_NAMES = [name for name, *_ in SCREENS]
MAX_COMMAND_UPDATES = 2000
STREAM_CHANNELS = tuple(
    dict.fromkeys(["health", *[channel for *_, cls in SCREENS for channel in cls.CHANNELS]])
)


@dataclass(frozen=True)
class ConsoleOptions:
    """What the console needs to know; built from the settings by the launcher."""

    url: str
    api_key: str
    refresh_s: float = 5.0
    theme: str = "textual-dark"
    keymap: tuple[tuple[str, str], ...] = ()
    read_only: bool = False
    start_screen: str = "health"
    # The backend's local operator-token file when the key came from it: re-read when the key
    # is refused (a restarted backend writes a new token there).
    token_file: str | None = None

    def __repr__(self) -> str:
        return f"ConsoleOptions(url={self.url!r}, api_key=<hidden>)"


# Keys the tables, lists and dialogs use to move around: remapping a binding onto one of them
# would take it from every table.
NAVIGATION_KEYS = frozenset(
    [
        "up",
        "down",
        "left",
        "right",
        "tab",
        "shift+tab",
        "enter",
        "pageup",
        "pagedown",
        "home",
        "end",
    ]
)


def _console_nodes() -> Iterator[type[DOMNode]]:
    """Every screen and widget class of the console (each one a scope of bindings)."""
    seen: set[type] = set()
    pending: list[type] = [DOMNode]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                if sub.__module__.startswith("hashinsight_tui."):
                    yield sub


def _keys(binding: Binding, keymap: Mapping[str, str]) -> set[str]:
    keys = keymap.get(binding.id or "", binding.key)
    return {key.strip() for key in _normalize_key_list(keys).split(",") if key.strip()}


def keymap_problems(keymap: Mapping[str, str], source: str) -> list[str]:
    """What is wrong with a `[console.keymap]`, one line each (empty: nothing): an id no binding
    has, or a key that another binding of the same screen (or of the whole console) already
    uses. Textual would drop such entries or the binding they collide with without a word."""
    app_bindings = [b for _, b in HashInsightApp._merge_bindings() if b.id]
    scopes: list[tuple[str, list[Binding]]] = [("everywhere", [])]
    for cls in _console_nodes():
        if cls is HashInsightApp:
            continue
        own = [b for _, b in cls._merge_bindings() if b.id]
        if own:
            where = getattr(cls, "SCREEN_TITLE", "") or cls.__name__
            scopes.append((f"on {where}", own))
    known = {b.id for _, bindings in scopes for b in bindings} | {b.id for b in app_bindings}
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        where = f"console.keymap.{binding_id} = {keys!r} (from {source})"
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, sorted(known), n=1)  # type: ignore[arg-type]
            hint = f"did you mean {close[0]!r}?" if close else "press ? in the console for ids"
            problems.append(f"settings: {where}: no binding has this id; {hint}")
            continue
        wanted = {key.strip() for key in _normalize_key_list(keys).split(",") if key.strip()}
        if not wanted:
            problems.append(f"settings: {where}: no key given")
            continue
        moving = sorted(wanted & NAVIGATION_KEYS)
        if moving:
            problems.append(
                f"settings: {where}: {moving[0]} moves around tables and dialogs; pick another key"
            )
            continue
        # Keys the binding has by default already share the console's deliberate layering
        # (`?` also closes the help): only a newly chosen key can be taken from another binding.
        default = {b.id: _keys(b, {}) for _, own in scopes for b in own + app_bindings}
        new = wanted - default[binding_id]
        for scope, own in scopes:
            bindings = own + app_bindings
            if binding_id not in {b.id for b in bindings}:
                continue
            taken = [b for b in bindings if b.id != binding_id and _keys(b, keymap) & new]
            if taken:
                other = taken[0]
                key = sorted(_keys(other, keymap) & new)[0]
                what = other.description or other.action
                problems.append(
                    f"settings: {where}: {key} is already {other.id} ({what}) {scope}; "
                    "remap that one too or pick another key"
                )
                break
    return problems


class HashInsightApp(App[None]):
    TITLE = "HashInsight"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, type[BaseScreen]]] = {name: cls for name, _, _, cls in SCREENS}  # type: ignore[assignment]
    COMMANDS = App.COMMANDS | {ScreensProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        *[
            Binding(key, f"go('{name}')", title, show=False, id=f"screen.{name}")
            for name, title, key, _ in SCREENS
        ],
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("colon", "prompt('command')", "Command", id="app.command"),
        Binding("slash", "prompt('filter')", "Filter", id="app.filter"),
        Binding("p", "toggle_pause", "Pause", id="app.pause"),
        Binding("ctrl+k", "enter_key", "Enter API key", show=False, id="app.enter_key"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="app.clear_filter"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, options: ConsoleOptions, client: HashInsightClient | None = None) -> None:
        """`client` is the SDK client to use (one for `options` is made at mount if not given)."""
        super().__init__()
        self.options = options
        self.store = Store(url=options.url)
        self.client: HashInsightClient | None = client
        self.paused = False
        # While paused every screen draws from the store as it was at the pause (the clock and
        # the ages on screen go on); `paused_data_at` is when that data arrived.
        self.paused_store: Store | None = None
        self.paused_alerts: AlertBoard | None = None
        self.paused_data_at: float | None = None
        # The time ages on screen are shown at: moved on by the clock tick only, so every age
        # changes in one repaint a second, whatever else redraws the screen in between.
        self.clock_now = time.time()
        self.force_read_only = options.read_only
        # The open alerts (status bar, Alerts screen) and fleet commands pushed on the stream
        # (the approval queue), kept here so every screen reads the same, current answer.
        self.alerts = AlertBoard()
        self.command_updates: dict[str, dict[str, Any]] = {}
        self._asking_key = False
        if options.keymap:
            self.set_keymap(dict(options.keymap))

    @property
    def read_only(self) -> bool:
        key = self.store.key
        return self.force_read_only or key is None or key.read_only

    @property
    def stale_after_s(self) -> float:
        return max(3 * self.options.refresh_s, 30.0)

    def on_mount(self) -> None:
        if self.options.theme in self.available_themes:
            self.theme = self.options.theme
        else:
            self.notify(
                f"Unknown theme {self.options.theme!r}; using {self.theme}", severity="warning"
            )
        if self.client is None:
            self.client = HashInsightClient(self.options.url, self.options.api_key)
        start = self.options.start_screen if self.options.start_screen in self.MODES else "health"
        self.switch_mode(start)
        self.start_connection()
        self.set_interval(1.0, self.tick_clock, name="clock")
        self.set_interval(self.options.refresh_s, self.fetch_active, name="snapshots")
        if not self.is_headless:
            self._install_exit_signals()

    def start_connection(self) -> None:
        """(Re)start the connection worker (exclusive: a running one is replaced)."""
        assert self.client is not None
        source: KeySource | None = None
        if self.options.token_file:
            source = token_file_source(self.options.token_file)
        self.run_worker(
            connection_loop(
                self.client,
                self.post_message,
                self.options.refresh_s,
                STREAM_CHANNELS,
                key_source=source,
            ),
            name="connection",
            group="connection",
            exclusive=True,
        )

    def _install_exit_signals(self) -> None:
        """Leave cleanly (terminal restored) when the SSH session or a supervisor ends us."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit)

    async def on_unmount(self) -> None:
        # A fetch still in flight would otherwise hit the closed client and fail the exit.
        self.workers.cancel_all()
        if self.client is not None:
            await self.client.aclose()

    # --- data from the connection worker, applied in one batch each -----------------------

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        if message.state == "connected" and self.store.state != "connected":
            self.call_later(self.fetch_active)
        self.store.state = message.state
        self.store.detail = message.detail
        self.store.retry_in_s = message.retry_in_s
        self.render_current()

    def on_key_loaded(self, message: KeyLoaded) -> None:
        self.store.key = message.key
        self.refresh_bindings()
        self.render_current()

    def on_health_loaded(self, message: HealthLoaded) -> None:
        self.apply_health(message.report)

    def apply_health(self, report: HealthReport) -> None:
        self.store.set_health(report)
        self.render_current()

    def fetch_active(self) -> None:
        """Fetch the visible screen's REST snapshots in a worker (never while paused)."""
        if not self.screen_stack:
            return
        screen = self.screen
        if self.paused or self.client is None or not isinstance(screen, BaseScreen):
            return
        if self.store.state != "connected":
            return
        self.run_worker(partial(self._fetch, screen), group="snapshots", exclusive=True)

    async def _fetch(self, screen: BaseScreen) -> None:
        assert self.client is not None
        try:
            values = await screen.fetch(self.client)
        except (ApiError, ConnectionLost) as exc:
            self.post_message(SnapshotFailed(screen.SCREEN_TITLE, str(exc)))
            return
        if values:
            self.post_message(SnapshotsLoaded(values))

    def on_snapshots_loaded(self, message: SnapshotsLoaded) -> None:
        self.store.set_snapshots(message.values)
        self.render_current()

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        self.store.detail = f"{message.screen}: {message.error}"
        self.render_current()

    def on_stream_batch(self, message: StreamBatch) -> None:
        self.alerts.apply_events(message.events)
        for event in message.events:
            if event.event == "command.update" and "command_id" in event.data:
                self.command_updates[str(event.data["command_id"])] = event.data
        if len(self.command_updates) > MAX_COMMAND_UPDATES:  # the REST list has the rest
            for command_id in list(self.command_updates)[: MAX_COMMAND_UPDATES // 2]:
                del self.command_updates[command_id]
        self.store.apply(message.events)
        if not getattr(self.screen, "RENDER_ON_TICK", False):
            self.render_current()

    def on_alerts_loaded(self, message: AlertsLoaded) -> None:
        if message.items is None:
            self.alerts.error = message.error
        else:
            self.alerts.load(message.items)
        self.render_current()

    def apply_alert(self, alert: AlertView) -> None:
        """The answer to this console's own acknowledgement or silence: counted at once."""
        self.alerts.apply(alert)
        self.render_current()

    def open_miner(self, miner_id: str) -> None:
        """The miner detail screen of `miner_id`, over the Fleet screen (from any screen)."""
        self.run_worker(self._open_miner(miner_id), group="drill", exclusive=True)

    async def _open_miner(self, miner_id: str) -> None:
        from hashinsight_tui.screens.fleet import FleetScreen
        from hashinsight_tui.screens.miner_detail import MinerDetailScreen

        while isinstance(self.screen, ModalScreen):
            self.pop_screen()
        await self.switch_mode("fleet")
        fleet = self.screen
        if isinstance(fleet, FleetScreen):
            await self.push_screen(MinerDetailScreen(miner_id, fleet))
            self.call_after_refresh(self.fetch_active)

    def on_key_needed(self, message: KeyNeeded) -> None:
        self.notify(
            f"The backend refused this console's key ({message.reason}). Enter a new key (ctrl+k).",
            severity="error",
            timeout=10,
        )
        self.action_enter_key()

    def action_enter_key(self) -> None:
        """Ask for an API key and reconnect with it (a revoked or expired key, a new site)."""
        if self._asking_key or self.client is None:
            return
        self._asking_key = True

        def chosen(key: str | None) -> None:
            self._asking_key = False
            if key and self.client is not None:
                use_key(self.client, key)
                self.start_connection()

        reason = self.store.detail if self.store.state == "unauthorized" else ""
        self.push_screen(KeyPromptScreen(self.store.url, reason), chosen)

    @property
    def shown_alerts(self) -> AlertBoard:
        """The alerts a screen draws: as they were at the pause while paused."""
        return self.paused_alerts if self.paused and self.paused_alerts else self.alerts

    def tick_clock(self) -> None:
        self.clock_now = time.time()
        self.render_current()

    def render_current(self) -> None:
        """Redraw the visible screen; nothing renders under a modal or on hidden screens."""
        if not self.is_running or not self.screen_stack:  # starting or shutting down
            return
        screen = self.screen
        if isinstance(screen, ModalScreen) or not isinstance(screen, BaseScreen):
            return
        with self.batch_update():
            screen.render_store(
                self.store,
                paused=self.paused,
                stale_after_s=self.stale_after_s,
                shown=self.paused_store if self.paused else None,
            )

    # --- navigation and conventions ---------------------------------------------------------

    def action_go(self, name: str, arguments: dict[str, str] | None = None) -> None:
        if name not in self.MODES:
            self.notify(f"No screen called {name!r}", severity="error")
            return
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()
        self.switch_mode(name)
        self.call_after_refresh(self.fetch_active)
        if arguments:
            self.call_after_refresh(self._apply_arguments, arguments)

    def _apply_arguments(self, arguments: dict[str, str]) -> None:
        if isinstance(self.screen, BaseScreen):
            self.screen.set_arguments(arguments)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_prompt(self, kind: str) -> None:
        if isinstance(self.screen, BaseScreen):
            self.screen.query_one(PromptLine).open(kind)

    def action_clear_filter(self) -> None:
        """`esc` on a screen: drop the filter in force, set by `/` or by `:screen key=value`."""
        screen = self.screen
        if not isinstance(screen, BaseScreen) or not screen.clear_filters():
            raise SkipAction()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        # Every screen shows what the store held now: its age counts from when that arrived.
        self.paused_store = self.store.frozen() if self.paused else None
        self.paused_alerts = self.alerts.frozen() if self.paused else None
        self.paused_data_at = (self.store.updated_at or time.time()) if self.paused else None
        self.notify("Live refresh paused" if self.paused else "Live refresh resumed")
        self.render_current()
        if not self.paused:
            self.fetch_active()

    @on(PromptLine.PromptChanged)
    def _filter_changed(self, event: PromptLine.PromptChanged) -> None:
        if isinstance(self.screen, BaseScreen):
            self.screen.set_filter(event.value)

    @on(PromptLine.PromptSubmitted)
    def _prompt_submitted(self, event: PromptLine.PromptSubmitted) -> None:
        if event.kind == "filter":
            if isinstance(self.screen, BaseScreen):
                self.screen.set_filter(event.value)
            return
        self.run_command(event.value)

    def run_command(self, text: str) -> None:
        """Execute a `:` command line."""
        try:
            command = parse_command(text, SCREEN_NAMES)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        if command.name == "go":
            self.action_go(command.target, command.arguments)
        elif command.name == "quit":
            self.exit()
        elif command.name == "pause":
            if not self.paused:
                self.action_toggle_pause()
        elif command.name == "resume":
            if self.paused:
                self.action_toggle_pause()
        elif command.name == "theme":
            if command.target in self.available_themes:
                self.theme = command.target
            else:
                self.notify(f"Unknown theme {command.target!r}", severity="error")
        elif command.name == "help":
            self.action_help()
