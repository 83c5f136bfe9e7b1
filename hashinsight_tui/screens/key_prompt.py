"""Ask for an API key when the backend refuses the console's own (revoked, expired, replaced).

Without it the only way back was to quit and restart the console with another key; the key typed
here is used for this session only and is never written anywhere.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from hashinsight_tui.screens.confirm import BUTTON_KEYS, ButtonRowMixin

KEY_PREFIX = "hsk_"


class KeyPromptScreen(ButtonRowMixin, ModalScreen[str | None]):
    DEFAULT_CSS = """
    KeyPromptScreen { align: center middle; }
    KeyPromptScreen > Vertical {
        width: 76; max-width: 100%; height: auto;
        border: thick $error; background: $surface; padding: 1 2;
    }
    KeyPromptScreen #key-hint { color: $text-muted; height: auto; }
    KeyPromptScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    KeyPromptScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *BUTTON_KEYS]

    def __init__(self, url: str, reason: str = "") -> None:
        super().__init__()
        self.url = url
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical():
            question = Text(f"API key for {self.url}", style="bold")
            if self.reason:
                question.append(f"\nThe backend refused the current key: {self.reason}", "red")
            yield Static(question, id="key-question")
            yield Input(placeholder="hsk_…", password=True, id="key-input", max_length=200)
            yield Static(
                "Used for this session only, never saved. enter: connect · esc: keep waiting",
                id="key-hint",
            )
            with Horizontal():
                yield Button("Connect", variant="success", id="confirm")
                yield Button("Cancel", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#key-input", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._use()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        self._use()

    def _use(self) -> None:
        key = self.query_one("#key-input", Input).value.strip()
        if not key.startswith(KEY_PREFIX) or len(key) < 20:
            self.query_one("#key-hint", Static).update(
                Text(f"An API key starts with {KEY_PREFIX}.", style="bold red")
            )
            return
        self.dismiss(key)

    def action_cancel(self) -> None:
        self.dismiss(None)
