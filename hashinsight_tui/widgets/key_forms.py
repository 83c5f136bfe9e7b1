"""Dialogs of the API Keys screen: new key, new partner, and the once-only secret display."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from hashinsight_tui.screens.confirm import BUTTON_KEYS, ButtonRowMixin

SCOPES = ("read", "stream", "export", "fleet:control", "issuer:approve", "admin")
KEY_TIERS = ("operator", "basic", "pro", "enterprise")
PARTNER_TIERS = ("basic", "pro", "enterprise")
MODES = ("auto", "semi_auto")
FORM_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 70; max-width: 100%; height: auto; max-height: 100%;
    border: thick $primary; background: $surface; padding: 0 1;
}}
{name} Label {{ margin-top: 1; color: $text-muted; }}
{name} Input, {name} Select {{ width: 100%; }}
{name} .error {{ color: $error; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} Button {{ margin-left: 2; }}
"""


def parse_scopes(text: str) -> list[str]:
    items = [s for s in text.replace(",", " ").split() if s]
    unknown = [s for s in items if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}")
    if not items:
        raise ValueError("give at least one scope")
    return items


class KeyFormScreen(ButtonRowMixin, ModalScreen[dict[str, Any] | None]):
    """Name, scopes, tier, mode and expiry of a new operator key."""

    DEFAULT_CSS = FORM_CSS.format(name="KeyFormScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *BUTTON_KEYS]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]New API key[/b] — the key is shown once, right after.")
            yield Label("Name")
            yield Input(placeholder="e.g. night-shift console", id="key-name")
            yield Label("Scopes (space separated)")
            yield Input(value="read stream", id="key-scopes")
            yield Label("Tier and mode")
            with Horizontal():
                yield Select([(t, t) for t in KEY_TIERS], value="operator", id="key-tier")
                yield Select([(m, m) for m in MODES], value="auto", id="key-mode")
            yield Label("Expires in days (empty: never)")
            yield Input(placeholder="90", id="key-days", type="number")
            yield Static("", classes="error", id="key-error")
            with Horizontal():
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#key-name", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    @on(Input.Submitted)
    def _create(self) -> None:
        error = self.query_one("#key-error", Static)
        name = self.query_one("#key-name", Input).value.strip()
        if not name:
            error.update("give the key a name")
            return
        try:
            scopes = parse_scopes(self.query_one("#key-scopes", Input).value)
        except ValueError as exc:
            error.update(str(exc))
            return
        days_text = self.query_one("#key-days", Input).value.strip()
        try:
            days = float(days_text) if days_text else None
        except ValueError:
            error.update("expiry must be a number of days")
            return
        if days is not None and not 0 < days <= 3650:
            error.update("expiry must be between 0 and 3650 days")
            return
        self.dismiss(
            {
                "name": name,
                "scopes": scopes,
                "tier": self.query_one("#key-tier", Select).value,
                "mode": self.query_one("#key-mode", Select).value,
                "expires_in_days": days,
            }
        )


class PartnerFormScreen(ButtonRowMixin, ModalScreen[dict[str, Any] | None]):
    """Register a partner: name, tier, integration type, website, contact."""

    DEFAULT_CSS = FORM_CSS.format(name="PartnerFormScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *BUTTON_KEYS]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Register a partner[/b] — its key and signing secret are shown once.")
            yield Label("Name")
            yield Input(placeholder="e.g. Acme Explorer", id="partner-name")
            yield Label("Tier")
            yield Select([(t, t) for t in PARTNER_TIERS], value="basic", id="partner-tier")
            yield Label("Integration type · website · contact")
            yield Input(placeholder="explorer", id="partner-type")
            yield Input(placeholder="https://…", id="partner-website")
            yield Input(placeholder="ops@…", id="partner-contact")
            yield Static("", classes="error", id="partner-error")
            with Horizontal():
                yield Button("Register", variant="primary", id="register")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#partner-name", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#register")
    @on(Input.Submitted)
    def _register(self) -> None:
        name = self.query_one("#partner-name", Input).value.strip()
        if not name:
            self.query_one("#partner-error", Static).update("give the partner a name")
            return

        def text(widget_id: str) -> str | None:
            return self.query_one(widget_id, Input).value.strip() or None

        self.dismiss(
            {
                "name": name,
                "tier": self.query_one("#partner-tier", Select).value,
                "integration_type": text("#partner-type"),
                "website": text("#partner-website"),
                "contact": text("#partner-contact"),
            }
        )


class SecretShownScreen(ButtonRowMixin, ModalScreen[None]):
    """Secrets shown once, each with a copy button (the clipboard gets them, not the log)."""

    DEFAULT_CSS = """
    SecretShownScreen { align: center middle; }
    SecretShownScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    SecretShownScreen .secret { background: $boost; padding: 0 1; margin-bottom: 1; }
    SecretShownScreen Horizontal { height: auto; align-horizontal: right; }
    SecretShownScreen Button { margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close"), *BUTTON_KEYS]

    def __init__(self, title: str, secrets: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.secrets = secrets

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{self.title_text}[/b]\nStore these now: they are not shown again.")
            for index, (label, value) in enumerate(self.secrets):
                yield Label(label)
                yield Static(value, classes="secret", id=f"secret-{index}", markup=False)
            with Horizontal():
                for index, (label, _value) in enumerate(self.secrets):
                    yield Button(f"Copy {label}", id=f"copy-{index}")
                yield Button("Done", variant="primary", id="done")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button.startswith("copy-"):
            label, value = self.secrets[int(button.split("-", 1)[1])]
            self.app.copy_to_clipboard(value)
            self.notify(f"{label} copied to the clipboard")
        elif button == "done":
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
