"""The console shell driven with the pilot against a real backend in its own thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

from backend.runtime import BackendThread
from backend.settings import load_settings
from hashinsight_tui.app import SCREENS, ConsoleOptions, HashInsightApp
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.screens.health import HealthScreen
from hashinsight_tui.screens.help import HelpScreen
from hashinsight_tui.screens.placeholder import PendingCapabilityScreen
from hashinsight_tui.widgets.line_table import LineTable
from hashinsight_tui.widgets.status_bar import StatusBar
from tests.helpers import free_port, isolated_env, wait_for

SIZE = (120, 36)


def options(thread: BackendThread, key: str | None = None, **kw: object) -> ConsoleOptions:
    backend = thread.backend
    api_key = key or backend.operator_token
    assert api_key is not None
    return ConsoleOptions(url=backend.url, api_key=api_key, refresh_s=1.0, **kw)  # type: ignore[arg-type]


def status_line(app: HashInsightApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def table_rows(app: HashInsightApp) -> list[list[str]]:
    table = app.screen.query_one(LineTable)
    return [[str(cell) for cell in cells] for _key, cells in table.rows]


async def test_every_screen_is_reachable_by_key(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.state == "connected", pilot)
        for name, title, key, cls in SCREENS:
            await pilot.press(key)
            await wait_for(lambda cls=cls: isinstance(app.screen, cls), pilot)
            assert app.current_mode == name
            await wait_for(lambda title=title: title in status_line(app), pilot)
            assert "connected" in status_line(app)


class _PendingScreen(PendingCapabilityScreen):
    SCREEN_TITLE = "Widgets"
    WHAT_IT_WILL_SHOW = "Every widget of the site."


async def test_pending_capability_screen_says_so_instead_of_showing_data(
    backend_thread: BackendThread,
) -> None:
    app = HashInsightApp(options(backend_thread))
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(_PendingScreen())
        await pilot.pause(0.2)
        texts = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "Widgets: not available yet" in texts
        assert "Every widget of the site." in texts and "made-up" in texts
        assert not app.screen.query("DataTable")


async def test_health_screen_shows_live_backend_state(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, start_screen="health"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: any(r[0] == "database" for r in table_rows(app)), pilot)
        row = next(r for r in table_rows(app) if r[0] == "database")
        assert row[2] == "ok"

        backend = backend_thread.backend

        async def break_database() -> None:
            async def broken() -> None:
                raise ConnectionError("disk on fire")

            backend.db.ping = broken  # type: ignore[method-assign]
            await backend.run_health_checks()

        backend_thread.call(break_database())
        # The change arrives over the WebSocket stream, not by polling.
        await wait_for(
            lambda: any(
                r[0] == "database" and r[2] in ("degraded", "down") for r in table_rows(app)
            ),
            pilot,
        )
        assert "disk on fire" in next(r for r in table_rows(app) if r[0] == "database")[6]


async def test_drill_down_and_back(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, start_screen="health"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: bool(table_rows(app)), pilot)
        app.screen.query_one(LineTable).focus()
        await pilot.press("enter")
        await wait_for(lambda: type(app.screen).__name__ == "IntegrationDetailScreen", pilot)
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, HealthScreen), pilot)


async def test_command_line_filter_sort_help_and_pause(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, start_screen="prices"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.state == "connected", pilot)
        await pilot.press("colon")
        await pilot.press(*"health sort=latency_ms")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, HealthScreen), pilot)
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        await wait_for(lambda: screen.sort_column == "latency_ms", pilot)
        await wait_for(lambda: bool(table_rows(app)), pilot)

        await pilot.press("slash")
        await pilot.press(*"zzz")
        await wait_for(lambda: table_rows(app) == [], pilot)
        await pilot.press("escape")
        await wait_for(lambda: bool(table_rows(app)), pilot)

        await pilot.press("s")
        assert screen.sort_column != "latency_ms"

        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot)
        help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert all(f":{name}" in help_text for name in app.MODES)  # every screen, none stale
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, HealthScreen), pilot)

        await pilot.press("p")
        await wait_for(lambda: "paused" in status_line(app), pilot)
        assert "stale" in status_line(app)
        await pilot.press("p")
        await wait_for(lambda: "paused" not in status_line(app), pilot)

        await pilot.press("colon")
        await pilot.press(*"nosuchthing")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HealthScreen)  # an unknown command changes nothing


async def test_command_palette_lists_screens(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, start_screen="health"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Go to Fleet")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(lambda: app.current_mode == "fleet", pilot)


async def test_read_only_key_sees_no_write_actions(backend_thread: BackendThread) -> None:
    _info, key = backend_thread.call(
        backend_thread.backend.auth.create_key(name="viewer", scopes="read,stream")
    )
    app = HashInsightApp(options(backend_thread, key=key, start_screen="health"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.key is not None, pilot)
        screen = app.screen
        assert isinstance(screen, BaseScreen)
        assert app.read_only
        assert screen.check_action("recheck", ()) is False
        assert "read-only" in status_line(app)
        assert "recheck" not in shown_actions(app)


def shown_actions(app: HashInsightApp) -> set[str]:
    return {
        active.binding.action
        for active in app.active_bindings.values()
        if active.enabled and active.binding.show
    }


async def test_operator_key_sees_write_actions(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, start_screen="health"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.store.key is not None, pilot)
        assert not app.read_only
        await wait_for(lambda: "recheck" in shown_actions(app), pilot)
        # The demo's signing service dials the issuer just after start: until then the
        # issuer's signer reads down and the verdict is rightly "degraded".
        await wait_for(lambda: backend_thread.backend.health.overall() == "ok", pilot)
        await pilot.press("r")

        def verdicts() -> list[str]:
            return [str(n.message) for n in app._notifications if "Health: " in str(n.message)]

        await wait_for(lambda: bool(verdicts()), pilot)
        states = {k: (v.status, v.last_error) for k, v in app.store.integrations.items()}
        assert verdicts() == ["Health: ok"], {
            k: v for k, v in states.items() if v[0] not in ("ok", "unknown")
        }


async def test_lost_backend_shows_and_reconnects(tmp_path: Path) -> None:
    settings = load_settings(
        isolated_env(tmp_path), overrides={"api_port": free_port(), "health_check_interval_s": 1}
    )
    first = BackendThread(settings, mode="serve")
    first.start()
    _info, key = first.call(first.backend.auth.create_key(name="console", scopes="read,stream"))
    app = HashInsightApp(options(first, key=key))
    second: BackendThread | None = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: app.store.state == "connected", pilot)
            await asyncio.to_thread(first.stop)
            await wait_for(lambda: app.store.state == "reconnecting", pilot)
            assert "stale" in status_line(app) or "reconnecting" in status_line(app)
            second = BackendThread(settings, mode="serve")
            await asyncio.to_thread(second.start)
            await wait_for(lambda: app.store.state == "connected", pilot, within_s=20)
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_user_keymap_remaps_named_bindings(backend_thread: BackendThread) -> None:
    app = HashInsightApp(options(backend_thread, keymap=(("screen.fleet", "f"),)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await wait_for(lambda: app.current_mode == "fleet", pilot)
        await pilot.press("3")  # the default key no longer goes to the fleet
        await pilot.pause(0.2)
        await pilot.press("8")
        await wait_for(lambda: app.current_mode == "health", pilot)
