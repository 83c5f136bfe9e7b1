"""Confirmations for actions that change something, with Cancel focused so a stray enter does
nothing: a yes/no one, and one that asks for the reason a decision is audited with."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, confirm_label: str = "Confirm") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            with Horizontal():
                yield Button(self.confirm_label, variant="error", id="confirm")
                yield Button("Cancel", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


class DecisionScreen(ModalScreen[str | None]):
    """Confirm an approve/reject/retry/start, with a reason (required when `need_reason`)."""

    DEFAULT_CSS = """
    DecisionScreen { align: center middle; }
    DecisionScreen > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    DecisionScreen #decision-question { padding-bottom: 1; }
    DecisionScreen #decision-hint { color: $text-muted; height: auto; }
    DecisionScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    DecisionScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, question: str, confirm_label: str, *, need_reason: bool, danger: bool = False
    ) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.need_reason = need_reason
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="decision-question")
            placeholder = "reason (required)" if self.need_reason else "reason (optional)"
            yield Input(placeholder=placeholder, id="decision-reason", max_length=500)
            yield Static(
                "The decision is audited with your key, the time and this reason.",
                id="decision-hint",
            )
            with Horizontal():
                yield Button(
                    self.confirm_label,
                    variant="error" if self.danger else "success",
                    id="confirm",
                )
                yield Button("Cancel", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Input.Submitted)
    def _submitted(self, _event: Input.Submitted) -> None:
        # Enter in the reason field never decides by itself: it moves to the buttons.
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        reason = self.query_one("#decision-reason", Input).value.strip()
        if self.need_reason and len(reason) < 3:
            hint = self.query_one("#decision-hint", Static)
            hint.update(Text("A reason of at least 3 characters is required.", style="bold red"))
            self.query_one("#decision-reason", Input).focus()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
