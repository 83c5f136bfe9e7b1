"""The API Keys screen: keys, partners, webhook delivery logs and miner logins, through the API.

Keys: list (id, owner, scopes, tier, mode, created, last used, expiry), create (shown once,
copyable), revoke with confirmation, switch auto/semi-auto. Partners: register (key and signing
secret shown once), suspend/resume, delete with confirmation. Webhooks: endpoints and the delivery
log of the selected one. Miner logins: the control credentials per site or miner (passwords
masked, the factory default named where nothing is stored), set and removed here like from
`hashinsight fleet credentials`. Listing every key and partner needs an admin key; without one
the screen shows the caller's own keys and says why the rest is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, TabbedContent, TabPane

from hashinsight_contract.fleet import CredentialList, CredentialOut
from hashinsight_tui.client import (
    ApiError,
    AuthError,
    ConnectionLost,
    Delivery,
    HashInsightClient,
    ManagedKey,
    Partner,
    Webhook,
)
from hashinsight_tui.format import DASH, DATE_MINUTES, when, when_epoch
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.confirm import ConfirmScreen
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.credential_form import CredentialFormScreen
from hashinsight_tui.widgets.key_forms import KeyFormScreen, PartnerFormScreen, SecretShownScreen
from hashinsight_tui.widgets.line_table import Cell, LineTable, TableColumn
from hashinsight_tui.widgets.repaint import show

SNAP_KEYS = "keys.keys"
SNAP_PARTNERS = "keys.partners"
SNAP_WEBHOOKS = "keys.webhooks"
SNAP_DELIVERIES = "keys.deliveries"
SNAP_CREDENTIALS = "keys.credentials"
SNAP_ERRORS = "keys.errors"
STATE_STYLES = {"active": "green", "suspended": "yellow", "revoked": "red", "deleted": "red"}
DELIVERY_STYLES = {
    "delivered": "green",
    "pending": "yellow",
    "retrying": "yellow",
    "failed": "bold red",
    "cancelled": "dim",
}


# The tab whose selected row each action acts on: elsewhere the action is off (never on a row
# of a hidden table).
ACTION_TABS = {
    "revoke": "tab-keys",
    "toggle_mode": "tab-keys",
    "suspend": "tab-partners",
    "delete_partner": "tab-partners",
    "set_credential": "tab-credentials",
    "remove_credential": "tab-credentials",
}
TAB_ORDER = ("tab-keys", "tab-partners", "tab-webhooks", "tab-credentials")


def _columns(*labels: str) -> tuple[TableColumn, ...]:
    return tuple(TableColumn(label.lower().removesuffix(" (utc)"), label) for label in labels)


COLUMNS: dict[str, tuple[TableColumn, ...]] = {
    "keys-table": _columns(
        "ID",
        "Name",
        "Owner",
        "Tier",
        "Mode",
        "State",
        "Scopes",
        "Created (UTC)",
        "Last used (UTC)",
        "Expires (UTC)",
    ),
    "partners-table": _columns("ID", "Name", "Tier", "Status", "Keys", "Type", "Created (UTC)"),
    "webhooks-table": _columns("ID", "Partner", "URL", "Events", "Status", "Fails"),
    "deliveries-table": _columns("Created (UTC)", "Event", "Status", "Tries", "HTTP", "Error"),
    "credentials-table": _columns(
        "Scope", "Target", "Kind", "User", "Password", "Port", "Updated (UTC)", "By"
    ),
}


def _table(name: str) -> LineTable:
    """One of the screen's tables (none sorts: no room kept for a sort mark)."""
    return LineTable(COLUMNS[name], sortable=False, id=name)


ALL_SCOPES = frozenset({"read", "stream", "export", "fleet:control", "issuer:approve", "admin"})


def scopes_text(scopes: Sequence[str]) -> str:
    return "all" if set(scopes) >= ALL_SCOPES else " ".join(scopes)


def styled(value: str, styles: Mapping[str, str]) -> Text:
    return Text(value, style=styles.get(value, ""))


class KeysScreen(BaseScreen):
    SCREEN_TITLE = "API Keys"
    ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {"q": ()}
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "new_key",
            "revoke",
            "toggle_mode",
            "register",
            "suspend",
            "delete_partner",
            "set_credential",
            "remove_credential",
        }
    )
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("n", "new_key", "New key", id="keys.new"),
        Binding("d", "revoke", "Revoke", id="keys.revoke"),
        Binding("m", "toggle_mode", "Mode", id="keys.mode"),
        Binding("a", "register", "Add partner", id="keys.register"),
        Binding("s", "suspend", "Suspend/resume", show=False, id="keys.suspend"),
        Binding("x", "delete_partner", "Delete partner", show=False, id="keys.delete_partner"),
        Binding("e", "set_credential", "Set login", show=False, id="keys.set_credential"),
        Binding("r", "remove_credential", "Remove login", show=False, id="keys.remove_credential"),
        Binding("t", "next_tab", "Tab", id="keys.tab"),
    ]
    DEFAULT_CSS = """
    KeysScreen #keys-tabs { height: 1fr; }
    KeysScreen TabPane { padding: 0; }
    KeysScreen .note { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    KeysScreen LineTable { height: 1fr; }
    KeysScreen #deliveries-table { height: 1fr; border-top: hkey $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.selected_webhook: str | None = None
        self._keys: list[ManagedKey] = []
        self._partners: list[Partner] = []
        self._webhooks: list[Webhook] = []
        self._credentials: list[CredentialOut] = []
        self._credential_kinds: list[str] = []

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="keys-tabs", initial="tab-keys"):
            with TabPane("Keys", id="tab-keys"):
                yield Static("", classes="note", id="keys-note")
                yield _table("keys-table")
            with TabPane("Partners", id="tab-partners"):
                yield Static("", classes="note", id="partners-note")
                yield _table("partners-table")
            with TabPane("Webhooks", id="tab-webhooks"):
                yield Static("", classes="note", id="webhooks-note")
                yield _table("webhooks-table")
                yield _table("deliveries-table")
            with TabPane("Miner logins", id="tab-credentials"):
                yield Static("", classes="note", id="credentials-note")
                yield _table("credentials-table")

    # --- data (worker: no widgets here) ---------------------------------------------------------

    async def fetch(self, client: HashInsightClient) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        try:
            values[SNAP_KEYS] = list((await client.list_keys(limit=500)).items)
        except ApiError as exc:
            errors["keys"] = exc.message
        try:
            values[SNAP_PARTNERS] = list((await client.partners(limit=500)).items)
        except AuthError as exc:
            errors["partners"] = f"partners need an admin key ({exc.message})"
        except ApiError as exc:
            errors["partners"] = exc.message
        try:
            webhooks = list((await client.webhooks(limit=500)).items)
            values[SNAP_WEBHOOKS] = webhooks
            wanted = self.selected_webhook or (webhooks[0].webhook_id if webhooks else None)
            if wanted:
                page = await client.webhook_deliveries(wanted, limit=100)
                values[SNAP_DELIVERIES] = (wanted, list(page.items))
        except (AuthError, ApiError) as exc:
            errors["webhooks"] = exc.message
        try:
            values[SNAP_CREDENTIALS] = await client.fleet_credentials()
        except AuthError as exc:
            errors["credentials"] = f"miner logins need an admin key ({exc.message})"
        except ApiError as exc:
            errors["credentials"] = exc.message
        values[SNAP_ERRORS] = errors
        return values

    def refresh_view(self, store: Store) -> None:
        errors: Mapping[str, str] = store.snapshots.get(SNAP_ERRORS) or {}
        self._fill_keys(store.snapshots.get(SNAP_KEYS), errors.get("keys"))
        self._fill_partners(store.snapshots.get(SNAP_PARTNERS), errors.get("partners"))
        self._fill_webhooks(
            store.snapshots.get(SNAP_WEBHOOKS),
            store.snapshots.get(SNAP_DELIVERIES),
            errors.get("webhooks"),
        )
        self._fill_credentials(store.snapshots.get(SNAP_CREDENTIALS), errors.get("credentials"))

    def _matches(self, *parts: object) -> bool:
        return self.filter_text.lower() in " ".join(str(p) for p in parts).lower()

    def _fill_keys(self, keys: list[ManagedKey] | None, error: str | None) -> None:
        note = self.query_one("#keys-note", Static)
        if keys is None:
            show(note, Text(f"{DASH} keys: {error or 'loading…'}", style="yellow"))
            return
        rows = [k for k in keys if self._matches(k.key_id, k.name, k.owner_id, k.tier, k.mode)]
        self._keys = rows
        self.query_one("#keys-table", LineTable).set_rows(
            [(key.key_id, _key_cells(key)) for key in rows]
        )
        ro = " · read-only key: changes disabled" if self.hi_app.read_only else ""
        show(note, f"{len(rows)} keys{ro} · n new · m auto/semi-auto · d revoke · t next tab")

    def _fill_partners(self, partners: list[Partner] | None, error: str | None) -> None:
        note = self.query_one("#partners-note", Static)
        table = self.query_one("#partners-table", LineTable)
        if partners is None:
            show(note, Text(f"{DASH} {error or 'loading…'}", style="yellow"))
            table.set_rows([])
            self._partners = []
            return
        rows = [p for p in partners if self._matches(p.partner_id, p.name, p.tier, p.status)]
        self._partners = rows
        table.set_rows([(partner.partner_id, _partner_cells(partner)) for partner in rows])
        show(note, f"{len(rows)} partners · a register · s suspend/resume · x delete")

    def _fill_webhooks(
        self,
        webhooks: list[Webhook] | None,
        deliveries: tuple[str, list[Delivery]] | None,
        error: str | None,
    ) -> None:
        note = self.query_one("#webhooks-note", Static)
        if webhooks is None:
            show(note, Text(f"{DASH} webhooks: {error or 'loading…'}", style="yellow"))
            return
        self._webhooks = webhooks
        self.query_one("#webhooks-table", LineTable).set_rows(
            [(hook.webhook_id, _webhook_cells(hook)) for hook in webhooks]
        )
        shown, log = deliveries if deliveries else (None, [])
        self.query_one("#deliveries-table", LineTable).set_rows(
            [(str(item.id), _delivery_cells(item)) for item in log]
        )
        which = f"deliveries of {shown}" if shown else "no webhook selected"
        show(note, f"{len(webhooks)} webhooks · {which} (enter: show a webhook's log)")

    def _fill_credentials(self, listing: CredentialList | None, error: str | None) -> None:
        note = self.query_one("#credentials-note", Static)
        table = self.query_one("#credentials-table", LineTable)
        if listing is None:
            show(note, Text(f"{DASH} {error or 'loading…'}", style="yellow"))
            table.set_rows([])
            self._credentials = []
            return
        defaults = listing.defaults
        self._credential_kinds = list(defaults)
        rows = [c for c in listing.items if self._matches(c.scope, c.target, c.kind, c.user)]
        self._credentials = rows
        table.set_rows([(f"{c.scope}/{c.target}/{c.kind}", _credential_cells(c)) for c in rows])
        fallback = " · ".join(f"{kind}: {words}" for kind, words in defaults.items())
        show(
            note,
            f"{len(rows)} stored · e set · r remove · elsewhere the factory default ({fallback})",
        )

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self.refresh_view(self.hi_app.store)

    # --- actions --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        tab = ACTION_TABS.get(action)
        if allowed and tab and self.query_one(TabbedContent).active != tab:
            return None  # shown disabled: it would act on a row the operator cannot see
        return allowed

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    def _current(self, table_id: str, rows: list[Any]) -> Any | None:
        """The item of the row under the cursor (`rows` is what the table was filled with)."""
        table = self.query_one(table_id, LineTable)
        if table.cursor_key is None:
            return None
        return rows[table.cursor_row] if 0 <= table.cursor_row < len(rows) else None

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TAB_ORDER[(TAB_ORDER.index(tabs.active) + 1) % len(TAB_ORDER)]

    @on(LineTable.RowSelected, "#webhooks-table")
    def _webhook_selected(self, event: LineTable.RowSelected) -> None:
        self.selected_webhook = event.key
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_new_key(self) -> None:
        form = await self.app.push_screen_wait(KeyFormScreen())
        if not form or self.hi_app.client is None:
            return
        try:
            created = await self.hi_app.client.create_key(
                form["name"],
                form["scopes"],
                tier=form["tier"],
                mode=form["mode"],
                expires_in_days=form["expires_in_days"],
            )
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Key not created: {exc}", severity="error")
            return
        await self.app.push_screen_wait(
            SecretShownScreen(f"Key {created.key.key_id} created", [("API key", created.api_key)])
        )
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_revoke(self) -> None:
        key = self._current("#keys-table", self._keys)
        if key is None or self.hi_app.client is None:
            return
        question = f"Revoke key {key.key_id} ({key.name})? It stops working at once."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Revoke")):
            return
        try:
            await self.hi_app.client.revoke_key(key.key_id)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Not revoked: {exc}", severity="error")
            return
        self.notify(f"Key {key.key_id} revoked")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_toggle_mode(self) -> None:
        key = self._current("#keys-table", self._keys)
        if key is None or self.hi_app.client is None:
            return
        mode = "semi_auto" if key.mode == "auto" else "auto"
        try:
            await self.hi_app.client.set_key_mode(key.key_id, mode)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Mode not changed: {exc}", severity="error")
            return
        self.notify(f"Key {key.key_id} is now {mode}")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_register(self) -> None:
        form = await self.app.push_screen_wait(PartnerFormScreen())
        if not form or self.hi_app.client is None:
            return
        name, tier = form.pop("name"), form.pop("tier")
        try:
            done = await self.hi_app.client.register_partner(name, tier=tier, **form)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Partner not registered: {exc}", severity="error")
            return
        await self.app.push_screen_wait(
            SecretShownScreen(
                f"Partner {done.partner.partner_id} registered ({tier})",
                [("API key", done.api_key), ("Signing secret", done.api_secret)],
            )
        )
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_suspend(self) -> None:
        partner = self._current("#partners-table", self._partners)
        if partner is None or self.hi_app.client is None:
            return
        try:
            if partner.status == "active":
                await self.hi_app.client.suspend_partner(partner.partner_id)
                self.notify(f"{partner.name} suspended: its keys are refused")
            else:
                await self.hi_app.client.resume_partner(partner.partner_id)
                self.notify(f"{partner.name} resumed")
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Not changed: {exc}", severity="error")
            return
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_delete_partner(self) -> None:
        partner = self._current("#partners-table", self._partners)
        if partner is None or self.hi_app.client is None:
            return
        question = f"Delete partner {partner.name}? Its keys are revoked for good."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Delete")):
            return
        try:
            await self.hi_app.client.delete_partner(partner.partner_id)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Not deleted: {exc}", severity="error")
            return
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_set_credential(self) -> None:
        """Store a login; starting from the selected row, so changing a password is one step."""
        if self.hi_app.client is None:
            return
        if not self._credential_kinds:
            self.notify("Miner logins are not loaded (an admin key is needed)", severity="warning")
            return
        row: CredentialOut | None = self._current("#credentials-table", self._credentials)
        form = await self.app.push_screen_wait(
            CredentialFormScreen(
                self._credential_kinds,
                scope=row.scope if row else "site",
                target=row.target if row else "",
                kind=row.kind if row else None,
                user=row.user if row else None,
                port=row.port if row else None,
            )
        )
        if not form:
            return
        scope, target, kind = form.pop("scope"), form.pop("target"), form.pop("kind")
        try:
            await self.hi_app.client.set_fleet_credentials(scope, target, kind, **form)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Login not stored: {exc}", severity="error")
            return
        self.notify(f"{kind} login stored for {scope} {target} (password encrypted)")
        self.hi_app.fetch_active()

    @work(exclusive=True, group="keys-action")
    async def action_remove_credential(self) -> None:
        row = self._current("#credentials-table", self._credentials)
        if row is None or self.hi_app.client is None:
            return
        scope, target, kind = row.scope, row.target, row.kind
        question = (
            f"Remove the {kind} login of {scope} {target}? Its miners fall back to the site's "
            "login or the factory default."
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Remove")):
            return
        try:
            await self.hi_app.client.remove_fleet_credentials(scope, target, kind)
        except (ApiError, ConnectionLost) as exc:
            self.notify(f"Not removed: {exc}", severity="error")
            return
        self.notify(f"{kind} login of {scope} {target} removed")
        self.hi_app.fetch_active()


def _key_cells(key: ManagedKey) -> tuple[Cell, ...]:
    return (
        key.key_id,
        key.name,
        key.owner_id or key.owner_type,
        key.tier,
        key.mode,
        styled(key.state, STATE_STYLES),
        scopes_text(key.scopes),
        when(key.created_at, DATE_MINUTES),
        when(key.last_used_at, DATE_MINUTES) if key.last_used_at else "never",
        when(key.expires_at, DATE_MINUTES) if key.expires_at else "never",
    )


def _partner_cells(partner: Partner) -> tuple[Cell, ...]:
    return (
        partner.partner_id,
        partner.name,
        partner.tier,
        styled(partner.status, STATE_STYLES),
        str(partner.active_keys if partner.active_keys is not None else DASH),
        partner.integration_type or DASH,
        when(partner.created_at, DATE_MINUTES),
    )


def _webhook_cells(hook: Webhook) -> tuple[Cell, ...]:
    return (
        hook.webhook_id,
        hook.partner_id,
        Text(hook.url, overflow="ellipsis", no_wrap=True),
        ", ".join(hook.event_types),
        styled(hook.status, {"active": "green", "disabled": "red"}),
        str(hook.consecutive_failures),
    )


def _delivery_cells(delivery: Delivery) -> tuple[Cell, ...]:
    return (
        when(delivery.created_at, DATE_MINUTES),
        delivery.event_type,
        styled(delivery.status, DELIVERY_STYLES),
        str(delivery.attempts),
        str(delivery.last_status_code or DASH),
        Text(delivery.last_error or "", style="red", overflow="ellipsis"),
    )


def _credential_cells(item: CredentialOut) -> tuple[Cell, ...]:
    return (
        item.scope,
        item.target,
        item.kind,
        item.user or Text("default", style="dim"),
        item.password or Text("default", style="dim"),
        str(item.port or DASH),
        when_epoch(item.updated_at, DATE_MINUTES),
        item.updated_by or DASH,
    )
