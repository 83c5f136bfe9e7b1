"""The Notary & Wallets screen driven with the pilot against a real demo backend."""

from __future__ import annotations

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from textual.widgets import ContentSwitcher, Static

from backend.notary.service import NotaryService
from backend.runtime import BackendThread
from hashinsight_contract.notary import NotarizationOut
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.notary import NotaryScreen, VerificationScreen
from hashinsight_tui.widgets.line_table import LineTable
from tests.helpers import wait_for

SIZE = (120, 36)


def options(thread: BackendThread, key: str | None = None) -> ConsoleOptions:
    api_key = key or thread.backend.operator_token
    assert api_key is not None
    return ConsoleOptions(
        url=thread.backend.url, api_key=api_key, refresh_s=1.0, start_screen="notary"
    )


def rows(app: HashInsightApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(table_id, LineTable)
    return [[str(cell).strip() for cell in cells] for _key, cells in table.rows]


def text(app: HashInsightApp, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


def notarize(thread: BackendThread) -> NotarizationOut:
    notary = thread.backend.services_by_name["notary"]
    assert isinstance(notary, NotaryService)

    async def run() -> NotarizationOut:
        view = await notary.request(requested_by="test")
        done = await notary.wait(view.id, 60)
        assert done is not None
        return done

    return thread.call(run(), timeout=70)


def sign_in_attempts(thread: BackendThread) -> str:
    """One good and one bad wallet login, over HTTP like a browser would."""
    account = Account.create()
    with httpx.Client(base_url=thread.backend.url, trust_env=False, timeout=20) as client:
        issued = client.post("/api/wallet/nonce", json={"wallet_address": account.address}).json()
        signature = account.sign_message(encode_defunct(text=issued["message"])).signature
        body = {"wallet_address": account.address, "nonce": issued["nonce"]}
        assert (
            client.post(
                "/api/wallet/login", json={**body, "signature": "0x" + signature.hex()}
            ).status_code
            == 200
        )
        assert (
            client.post("/api/wallet/login", json={**body, "signature": "0x00"}).status_code == 401
        )
    return account.address.lower()


async def test_notarizations_show_their_steps_and_verify(backend_thread: BackendThread) -> None:
    done = notarize(backend_thread)
    assert done.status == "completed", done
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, NotaryScreen), pilot)
        await wait_for(lambda: any(r[0] == str(done.id) for r in rows(app, "#notary-table")), pilot)
        row = next(r for r in rows(app, "#notary-table") if r[0] == str(done.id))
        assert row[3] == "completed" and row[4:8] == ["✓", "✓", "✓", "✓"]
        assert row[8] == str(done.block_number)
        detail = text(app, "#notary-detail")
        assert done.hash in detail and done.cid in detail and done.tx_hash in detail
        assert "pinata" in detail  # the demo world pins through the Pinata simulator
        assert "signer 0x" in text(app, "#notary-info")
        await pilot.press("v")
        await wait_for(lambda: isinstance(app.screen, VerificationScreen), pilot, 30)
        shown = str(app.screen.query_one("#verify-title", Static).render())
        assert f"Notarization {done.id}: VERIFIED" in shown
        modal = app.screen
        assert isinstance(modal, VerificationScreen) and modal.result.ok
        assert [c.step for c in modal.result.checks] == ["pin", "hash", "sign", "anchor", "confirm"]
        assert "Pinata gateway" in modal.result.checks[0].detail
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, NotaryScreen), pilot)
        await wait_for(lambda: "verify pin PASS" in text(app, "#notary-detail"), pilot)


async def test_notarize_now_streams_progress_into_the_table(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.key is not None and app.store.state == "connected", pilot)
        await wait_for(lambda: "signer" in text(app, "#notary-info"), pilot)
        await pilot.press("n")
        await wait_for(
            lambda: any(r[3] == "completed" for r in rows(app, "#notary-table")), pilot, 60
        )
        events = app.store.recent.get("notarizations", ())
        assert any(e.event == "notary.update" for e in events)  # live, over the WebSocket


async def test_wallet_login_log_with_outcome_and_filter(backend_thread: BackendThread) -> None:
    address = sign_in_attempts(backend_thread)
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, NotaryScreen), pilot)
        await pilot.press("w")
        await wait_for(lambda: app.screen.query_one(ContentSwitcher).current == "tab-logins", pilot)
        await wait_for(lambda: len(rows(app, "#logins-table")) >= 2, pilot)
        log = rows(app, "#logins-table")
        assert {r[1] for r in log} >= {"ok", "rejected"}
        assert all(r[2].startswith(address[:8]) for r in log[:2])
        assert all(r[3] == "127.0.0.1" and "skipped" in r[4] for r in log[:2])
        await pilot.press("o")  # outcome: ok
        await wait_for(lambda: {r[1] for r in rows(app, "#logins-table")} == {"ok"}, pilot)
        await pilot.press("o")  # outcome: rejected
        await wait_for(lambda: {r[1] for r in rows(app, "#logins-table")} == {"rejected"}, pilot)
        assert "already used" in rows(app, "#logins-table")[0][5]
        await pilot.press("slash")
        await pilot.press(*"nothing-like-this")
        await wait_for(lambda: rows(app, "#logins-table") == [], pilot)
        assert "filter" in text(app, "#logins-info")


async def test_read_only_key_cannot_notarize_nor_read_the_login_log(
    backend_thread: BackendThread,
) -> None:
    _info, key = backend_thread.call(
        backend_thread.backend.auth.create_key(name="viewer", scopes="read,stream")
    )
    app = HashInsightApp(options(backend_thread, key=key))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.key is not None, pilot)
        screen = app.screen
        assert isinstance(screen, NotaryScreen)
        assert screen.check_action("notarize", ()) is False
        assert screen.check_action("verify", ()) is True
        await wait_for(lambda: "admin key" in text(app, "#logins-info"), pilot)
        assert rows(app, "#logins-table") == []


async def test_usable_at_80_by_24(backend_thread: BackendThread) -> None:
    notarize(backend_thread)
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: bool(rows(app, "#notary-table")), pilot)
        table = app.screen.query_one("#notary-table", LineTable)
        assert table.virtual_size.width <= table.size.width  # every column visible
        assert table.size.height >= 4
        detail = app.screen.query_one("#notary-detail", Static)
        # the detail of the selected row is filled (and laid out) a refresh after the rows
        await wait_for(lambda: "hash" in text(app, "#notary-detail"), pilot)
        await pilot.pause()
        assert detail.size.height >= 5
