"""The API Keys screen driven with the pilot against a real backend in its own thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TabbedContent

from backend.runtime import BackendThread
from backend.settings import load_settings
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.screens.confirm import ConfirmScreen
from hashinsight_tui.screens.keys import KeysScreen
from hashinsight_tui.widgets.credential_form import CredentialFormScreen
from hashinsight_tui.widgets.key_forms import KeyFormScreen, PartnerFormScreen, SecretShownScreen
from hashinsight_tui.widgets.line_table import LineTable
from tests.api.conftest import FAST
from tests.api.receiver import Receiver
from tests.helpers import isolated_env, wait_for

SIZE = (120, 36)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[BackendThread]:
    thread = BackendThread(load_settings(isolated_env(tmp_path), overrides=FAST), mode="serve")
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def app_for(thread: BackendThread) -> HashInsightApp:
    backend = thread.backend
    assert backend.initial_operator_key is not None
    return HashInsightApp(
        ConsoleOptions(
            url=backend.url,
            api_key=backend.initial_operator_key,
            refresh_s=1.0,
            start_screen="keys",
        )
    )


def rows(app: HashInsightApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(table_id, LineTable)
    return [[str(c) for c in cells] for _key, cells in table.rows]


async def test_create_change_mode_and_revoke_a_key(live: BackendThread) -> None:
    small = app_for(live)
    async with small.run_test(size=(80, 24)) as pilot:  # usable at 80x24
        await wait_for(
            lambda: isinstance(small.screen, KeysScreen) and len(rows(small, "#keys-table")) >= 2,
            pilot,
        )
        table = small.screen.query_one("#keys-table", LineTable)
        assert table.region.height >= 5 and table.region.width >= 70
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            lambda: isinstance(app.screen, KeysScreen) and len(rows(app, "#keys-table")) >= 2, pilot
        )
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, KeyFormScreen), pilot)
        app.screen.query_one("#key-name", Input).value = "night shift"
        app.screen.query_one("#key-scopes", Input).value = "read stream"
        await pilot.click("#create")
        await wait_for(lambda: isinstance(app.screen, SecretShownScreen), pilot)
        shown = app.screen
        assert isinstance(shown, SecretShownScreen)
        full_key = shown.secrets[0][1]
        assert full_key.startswith("hsk_")
        await pilot.click("#done")
        await wait_for(lambda: any("night shift" in r for r in rows(app, "#keys-table")), pilot)
        names = [r[1] for r in rows(app, "#keys-table")]
        table = app.screen.query_one("#keys-table", LineTable)
        table.move_to(table.rows[names.index("night shift")][0])
        await pilot.press("m")
        await wait_for(
            lambda: any(
                r[1] == "night shift" and r[4] == "semi_auto" for r in rows(app, "#keys-table")
            ),
            pilot,
        )
        async with HashInsightClient(live.backend.url, full_key) as client:
            assert (await client.me()).mode == "semi_auto"
        table.move_to(table.rows[[r[1] for r in rows(app, "#keys-table")].index("night shift")][0])
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        await pilot.click("#confirm")
        await wait_for(
            lambda: not any(r[1] == "night shift" for r in rows(app, "#keys-table")), pilot
        )
        async with HashInsightClient(live.backend.url, full_key) as client:
            with pytest.raises(Exception, match="401"):
                await client.me()
        # The full key never stays on screen.
        assert full_key.split("_")[2] not in str(rows(app, "#keys-table")[0])


async def test_register_suspend_partner_and_see_webhook_deliveries(live: BackendThread) -> None:
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        await pilot.press("t")
        await wait_for(lambda: app.screen.query_one(TabbedContent).active == "tab-partners", pilot)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, PartnerFormScreen), pilot)
        app.screen.query_one("#partner-name", Input).value = "Acme"
        app.screen.query_one("#partner-tier", Select).value = "pro"
        await pilot.click("#register")
        await wait_for(lambda: isinstance(app.screen, SecretShownScreen), pilot)
        secrets = dict(app.screen.secrets)  # type: ignore[attr-defined]
        assert secrets["API key"].startswith("hsk_") and secrets["Signing secret"].startswith(
            "whsec_"
        )
        await pilot.click("#done")
        await wait_for(lambda: any(r[1] == "Acme" for r in rows(app, "#partners-table")), pilot)
        partner_id = next(r[0] for r in rows(app, "#partners-table") if r[1] == "Acme")
        await pilot.press("s")
        await wait_for(
            lambda: any(
                r[1] == "Acme" and r[3] == "suspended" for r in rows(app, "#partners-table")
            ),
            pilot,
        )
        await pilot.press("s")
        await wait_for(
            lambda: any(r[1] == "Acme" and r[3] == "active" for r in rows(app, "#partners-table")),
            pilot,
        )
        async with Receiver() as receiver:
            async with HashInsightClient(live.backend.url, secrets["API key"]) as partner:
                hook = await partner.create_webhook(receiver.url, ["price.move"])
            live.call(_publish_moves(live))
            await receiver.wait_for(1)
            await pilot.press("t")
            await wait_for(
                lambda: app.screen.query_one(TabbedContent).active == "tab-webhooks", pilot
            )
            await wait_for(
                lambda: any(r[0] == hook.webhook_id for r in rows(app, "#webhooks-table")), pilot
            )
            await wait_for(
                lambda: any("delivered" in r for r in rows(app, "#deliveries-table")), pilot, 15
            )
            hooks = app.screen.query_one("#webhooks-table", LineTable)
            hooks.focus()
            hooks.move_to(hook.webhook_id)
            await pilot.press("enter")  # the log of the webhook under the cursor
            screen = app.screen
            assert isinstance(screen, KeysScreen)
            await wait_for(lambda: screen.selected_webhook == hook.webhook_id, pilot)
            note = screen.query_one("#webhooks-note")
            await wait_for(lambda: f"deliveries of {hook.webhook_id}" in str(note.render()), pilot)
        assert partner_id.startswith("ptn_")


async def _publish_moves(thread: BackendThread) -> None:
    thread.backend.bus.publish("prices", "price.tick", {"price_usd": 100_000.0})
    thread.backend.bus.publish("prices", "price.tick", {"price_usd": 110_000.0})
    await asyncio.sleep(0)


async def test_miner_logins_are_set_masked_and_removed(live: BackendThread) -> None:
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        for _ in range(3):
            await pilot.press("t")
        await wait_for(
            lambda: app.screen.query_one(TabbedContent).active == "tab-credentials", pilot
        )
        note = app.screen.query_one("#credentials-note")
        await wait_for(lambda: "factory default" in str(note.render()), pilot)
        assert "web: root/root" in str(note.render()) or "web:" in str(note.render())

        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, CredentialFormScreen), pilot)
        form = app.screen
        assert form.focused is form.query_one("#cred-target", Input)
        form.query_one("#cred-target", Input).value = "Site A"
        form.query_one("#cred-user", Input).value = "root"
        password = form.query_one("#cred-password", Input)
        assert password.password  # typed masked
        password.value = "s3cret-pass"
        port = form.query_one("#cred-port", Input)
        port.value = "70000"
        port.focus()
        await pilot.press("enter")  # enter in any field stores, when every field is valid
        await wait_for(lambda: "1-65535" in str(form.query_one("#cred-error").render()), pilot)
        assert isinstance(app.screen, CredentialFormScreen)  # kept open, nothing lost
        assert form.query_one("#cred-password", Input).value == "s3cret-pass"
        port.value = "8080"
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        await wait_for(lambda: [r[1] for r in rows(app, "#credentials-table")] == ["Site A"], pilot)
        [row] = rows(app, "#credentials-table")
        assert row[:6] == ["site", "Site A", "web", "root", "********", "8080"]
        assert "s3cret-pass" not in " ".join(" ".join(r) for r in rows(app, "#credentials-table"))

        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
        await pilot.click("#confirm")
        await wait_for(lambda: isinstance(app.screen, KeysScreen), pilot)
        await wait_for(lambda: rows(app, "#credentials-table") == [], pilot)
    backend = live.backend
    assert backend.initial_operator_key is not None
    async with HashInsightClient(backend.url, backend.initial_operator_key) as client:
        assert (await client.fleet_credentials()).items == []
