"""The `:` command line and the `/` filter line, in the k9s tradition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class PromptLine(Input):
    """A one-line prompt docked at the bottom; `esc` hides it, `enter` submits."""

    DEFAULT_CSS = """
    PromptLine {
        dock: bottom;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        display: none;
    }
    PromptLine:focus {
        border: none;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close", show=False)]

    @dataclass
    class PromptSubmitted(Message):
        kind: str
        value: str

    @dataclass
    class PromptChanged(Message):
        kind: str
        value: str

    def __init__(self) -> None:
        super().__init__(placeholder="", id="prompt-line")
        self.kind = "command"
        self.can_focus = False  # hidden until opened: never steals keys meant for the screen

    def open(self, kind: str, value: str = "") -> None:
        self.kind = kind
        self.placeholder = (
            "command: health | fleet status=offline | prices | pause | theme NAME | quit"
            if kind == "command"
            else "filter: type to filter rows, enter to keep, esc to clear"
        )
        self.value = value
        self.display = True
        self.can_focus = True
        self.focus()

    def action_dismiss(self) -> None:
        if self.kind == "filter":
            self.post_message(self.PromptChanged("filter", ""))
        self._close()
        self.value = ""

    def _close(self) -> None:
        self.display = False
        self.can_focus = False
        self.screen.focus_next()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.display and self.kind == "filter":
            self.post_message(self.PromptChanged("filter", event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.PromptSubmitted(self.kind, event.value.strip()))
        self._close()
