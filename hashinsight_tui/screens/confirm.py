"""Confirmations for actions that change something: a yes/no one with Cancel focused (a stray
enter does nothing), and one that asks for the reason a decision is audited with, its field
focused so what is typed lands there. In both, left/right (and tab) move between the buttons."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

BUTTON_KEYS: list[BindingType] = [
    Binding("left", "move_button(-1)", "Previous button", show=False),
    Binding("right", "move_button(1)", "Next button", show=False),
]


class ButtonRowMixin:
    """Left/right move between a dialog's buttons, as in any dialog box (only while a button has
    the focus: in a text field they move the text cursor)."""

    def action_move_button(self, step: int) -> None:
        screen: ModalScreen[object] = self  # type: ignore[assignment]
        focused = screen.focused
        buttons = [b for b in screen.query(Button) if b.display and not b.disabled]
        if not isinstance(focused, Button) or focused not in buttons:
            raise SkipAction()
        buttons[(buttons.index(focused) + step) % len(buttons)].focus()


class ConfirmScreen(ButtonRowMixin, ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *BUTTON_KEYS,
    ]

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


class DecisionScreen(ButtonRowMixin, ModalScreen[str | None]):
    """Confirm an approve/reject/retry/start, with a reason (required when `need_reason`).

    The reason field has the focus; enter there decides when the reason is acceptable and says
    what is missing when not. Escape (or Cancel) decides nothing."""

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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *BUTTON_KEYS,
    ]

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
            yield Static(self._hint(), id="decision-hint")
            with Horizontal():
                yield Button(
                    self.confirm_label,
                    variant="error" if self.danger else "success",
                    id="confirm",
                )
                yield Button("Cancel", variant="primary", id="cancel")

    def _hint(self) -> str:
        enter = f"enter: {self.confirm_label.lower()}"
        if self.need_reason:
            enter += " (reason required)"
        return (
            f"The decision is audited with your key, the time and this reason. {enter} · "
            "esc: cancel"
        )

    def on_mount(self) -> None:
        self.query_one("#decision-reason", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._decide()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        self._decide()

    def _decide(self) -> None:
        """Dismiss with the reason, or say why not and keep the focus in the field."""
        reason = self.query_one("#decision-reason", Input).value.strip()
        if self.need_reason and len(reason) < 3:
            hint = self.query_one("#decision-hint", Static)
            hint.update(Text("A reason of at least 3 characters is required.", style="bold red"))
            self.query_one("#decision-reason", Input).focus()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
