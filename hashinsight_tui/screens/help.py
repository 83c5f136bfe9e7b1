"""`?`: the keys that work here and everywhere, and the command-line syntax.

Keys are shown as they are in effect: a `[console.keymap]` entry replaces a binding's default
key, so the help reads the app's keymap, and names each binding's id (what the keymap takes).
"""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

COMMAND_HELP = """\
:fleet status=offline        go to a screen with a filter (key=value arguments)
:pause  :resume              freeze or resume live refresh
:theme NAME                  switch theme (ctrl+p lists them)
:quit                        leave the console"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.for_screen = screen

    def key_text(self, binding: Binding) -> str:
        """The keys that run `binding` now: the keymap's, else the binding's own."""
        keymap: dict[str, str] = getattr(self.app, "_keymap", {})
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        shown = [
            self.app.get_key_display(Binding(key.strip(), binding.action))
            for key in keys.split(",")
            if key.strip()
        ]
        return " ".join(dict.fromkeys(shown))

    def compose(self) -> ComposeResult:
        keys = Table(
            title="Keys", title_justify="left", show_header=False, box=None, padding=(0, 2)
        )
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        keys.add_column(style="dim", no_wrap=True)
        seen: set[str] = set()
        for node in (self.for_screen, self.app):
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                if binding.description in seen:
                    continue
                seen.add(binding.description)
                keys.add_row(self.key_text(binding), binding.description, binding.id or "")
        title = getattr(self.for_screen, "SCREEN_TITLE", "")
        keys.caption = "right: the id a [console.keymap] entry remaps"
        keys.caption_justify = "left"
        with VerticalScroll():
            yield Static(f"[b]Help — {title}[/b]   (esc closes)\n")
            yield Static(keys)
            screens = "  ".join(f":{name}" for name in getattr(self.app, "MODES", {}))
            yield Static(
                "\n[b]Command line[/b] (press :)\n"
                + textwrap.fill(screens, 70, break_on_hyphens=False)
                + "   go to a screen\n"
                + COMMAND_HELP
            )
            yield Static(
                "\n[b]Conventions[/b]\n/ filters rows live (esc clears it, and a filter set by "
                "a : command) · tab completes in the : and / lines · s sorts (S reverses) · "
                "enter drills down · ← → show the columns a narrow table leaves out · "
                "esc goes back · p pauses refresh (the status bar then shows "
                "how stale the data is) · destructive actions ask first, with Cancel focused."
            )
