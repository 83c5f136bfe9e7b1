"""The `:` command line and the `/` filter line, in the k9s tradition: shown above the footer
while typing, with the completions of what is being typed and `tab` to take the first one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Label, Static

# (kind, text typed) -> whole-line completions, best first.
Completer = Callable[[str, str], list[str]]
PLACEHOLDERS = {
    "command": "health | fleet status=offline | prices | pause | theme NAME | quit",
    "filter": "type to filter rows · enter keeps it · esc clears it",
}


class _Completions(Suggester):
    """Feeds the line's first completion to the Input as its dim inline suggestion."""

    def __init__(self, line: PromptLine) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.line = line

    async def get_suggestion(self, value: str) -> str | None:
        candidates = self.line.candidates(value)
        return candidates[0] if candidates and candidates[0].startswith(value) else None


class PromptLine(Input):
    """The text field of the prompt; `esc` closes it (and clears a filter), `enter` submits,
    `tab` takes the first completion."""

    DEFAULT_CSS = """
    PromptLine {
        height: 1;
        width: 1fr;
        border: none;
        padding: 0;
        background: $boost;
    }
    PromptLine:focus {
        border: none;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

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
        self.suggester = _Completions(self)
        self.kind = "command"
        self.completer: Completer | None = None
        self.can_focus = False  # hidden until opened: never steals keys meant for the screen
        self._return_focus: Widget | None = None

    @property
    def bar(self) -> PromptBar:
        return self.query_ancestor(PromptBar)

    @property
    def is_open(self) -> bool:
        return self.bar.display

    def candidates(self, text: str) -> list[str]:
        return self.completer(self.kind, text) if self.completer else []

    def open(self, kind: str, value: str = "") -> None:
        self.kind = kind
        self.placeholder = PLACEHOLDERS.get(kind, "")
        focused = self.screen.focused
        self._return_focus = focused if focused is not self else self._return_focus
        self.bar.show_kind(kind)
        self.value = value
        self.can_focus = True
        self.focus()
        self.cursor_position = len(value)
        self._show_candidates(value)

    def action_complete(self) -> None:
        candidates = self.candidates(self.value)
        if candidates:
            self.value = candidates[0]
            self.cursor_position = len(self.value)

    def action_dismiss(self) -> None:
        if self.kind == "filter":
            self.post_message(self.PromptChanged("filter", ""))
        self._close()
        self.value = ""

    def _close(self) -> None:
        self.bar.display = False
        self.can_focus = False
        target = self._return_focus
        self._return_focus = None
        if target is not None and target.is_attached and target.focusable:
            target.focus()  # back where the operator was: the same row stays selected
        else:
            self.screen.focus_next()

    def _show_candidates(self, text: str) -> None:
        self.bar.show_candidates(self.candidates(text))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if not self.is_open:
            return
        self._show_candidates(event.value)
        if self.kind == "filter":
            self.post_message(self.PromptChanged("filter", event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.PromptSubmitted(self.kind, event.value.strip()))
        self._close()


class PromptBar(Vertical):
    """The prompt's line (`:` or `/` then the text) with the completions above it; in the flow
    just above the footer, so nothing covers what is typed."""

    DEFAULT_CSS = """
    PromptBar {
        height: auto;
        display: none;
        background: $boost;
    }
    PromptBar #prompt-candidates {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        background: $panel;
        display: none;
    }
    PromptBar Horizontal {
        height: 1;
        padding: 0 1;
    }
    PromptBar #prompt-kind {
        width: 2;
        text-style: bold;
        color: $accent;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="prompt-candidates")
        with Horizontal():
            yield Label(":", id="prompt-kind")
            yield PromptLine()

    def show_kind(self, kind: str) -> None:
        self.query_one("#prompt-kind", Label).update(":" if kind == "command" else "/")
        self.display = True

    def show_candidates(self, candidates: list[str]) -> None:
        line = self.query_one("#prompt-candidates", Static)
        line.display = bool(candidates)
        if candidates:
            text = Text("tab ", style="bold")
            text.append("  ".join(c.rsplit(" ", 1)[-1] for c in candidates))
            line.update(text)
