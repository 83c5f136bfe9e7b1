"""The dialog that stores a miner login (web, LuxOS, Whatsminer, ...) for a site or one miner.

The password field is masked and the value goes straight to the API, which keeps it
Fernet-encrypted and answers it masked; nothing here keeps or logs it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from hashinsight_tui.screens.confirm import BUTTON_KEYS, ButtonRowMixin
from hashinsight_tui.widgets.key_forms import FORM_CSS

SCOPES = ("site", "miner")


class CredentialFormScreen(ButtonRowMixin, ModalScreen[dict[str, Any] | None]):
    """Scope and target, kind, user, password and port; every field checked before sending."""

    DEFAULT_CSS = FORM_CSS.format(name="CredentialFormScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"), *BUTTON_KEYS]

    def __init__(
        self,
        kinds: list[str],
        *,
        scope: str = "site",
        target: str = "",
        kind: str | None = None,
        user: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__()
        self.kinds = kinds
        self.initial = {
            "scope": scope if scope in SCOPES else "site",
            "target": target,
            "kind": kind if kind in kinds else kinds[0],
            "user": user or "",
            "port": str(port) if port else "",
        }

    def compose(self) -> ComposeResult:
        first = self.initial
        with Vertical():
            yield Static(
                "[b]Miner login[/b] — used by the control driver of that firmware; the password "
                "is stored encrypted and never shown again."
            )
            yield Label("For a whole site, or one miner (its id, e.g. 10.0.1.7:4028)")
            with Horizontal():
                yield Select([(s, s) for s in SCOPES], value=first["scope"], id="cred-scope")
                yield Select([(k, k) for k in self.kinds], value=first["kind"], id="cred-kind")
            yield Input(value=first["target"], placeholder="site or miner id", id="cred-target")
            yield Label("User · password · port (each left empty: the factory default)")
            yield Input(value=first["user"], placeholder="root", id="cred-user", max_length=120)
            yield Input(password=True, placeholder="password", id="cred-password", max_length=256)
            yield Input(value=first["port"], placeholder="80", id="cred-port", type="integer")
            yield Static("", classes="error", id="cred-error")
            with Horizontal():
                yield Button("Store", variant="primary", id="store")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        focus = "#cred-password" if self.initial["target"] else "#cred-target"
        self.query_one(focus, Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#store")
    @on(Input.Submitted)
    def _store(self) -> None:
        error = self.query_one("#cred-error", Static)

        def text(widget_id: str) -> str:
            return self.query_one(widget_id, Input).value.strip()

        target, user, port_text = text("#cred-target"), text("#cred-user"), text("#cred-port")
        password = self.query_one("#cred-password", Input).value  # spaces are part of it
        if not target:
            error.update("say which site or miner these credentials are for")
            self.query_one("#cred-target", Input).focus()
            return
        try:
            port = int(port_text) if port_text else None
        except ValueError:
            port = 0
        if port is not None and not 1 <= port <= 65535:
            error.update("the port must be 1-65535")
            self.query_one("#cred-port", Input).focus()
            return
        if not (user or password or port):
            error.update("nothing to store: give a user, a password or a port")
            return
        self.dismiss(
            {
                "scope": self.query_one("#cred-scope", Select).value,
                "target": target,
                "kind": self.query_one("#cred-kind", Select).value,
                "user": user or None,
                "password": password or None,
                "port": port,
            }
        )
