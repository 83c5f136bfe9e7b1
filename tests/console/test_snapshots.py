"""SVG snapshots of every console screen at 120x36 and at 80x24, and of the help overlay.

The real console runs on the recorded backend answers of `snapshot_world.py` (its own connection
worker, fetches and parsing; the event stream stays silent), with the wall clock frozen at the
recording and the time zone fixed to UTC, so every machine draws the same screen. A changed look
fails here; `pytest tests/console/test_snapshots.py --snapshot-update` accepts it after a look.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from hashinsight_tui.app import SCREEN_NAMES, ConsoleOptions, HashInsightApp
from tests.console.snapshot_world import URL, replay_client

SIZE = (120, 36)
NARROW = (80, 24)
READY_WITHIN_S = 60.0  # generous for a loaded machine; a ready screen returns at once
# The REST snapshots each screen shows once its first fetch has landed.
SHOWS: dict[str, tuple[str, ...]] = {
    "prices": ("prices.current", "prices.exchanges", "prices.history.1d"),
    "network": ("network.stats", "network.blocks", "network.hashrate.1m"),
    "fleet": ("fleet.summary", "fleet.miners"),
    "notary": ("notary.info", "notary.list", "notary.logins"),
    "keys": ("keys.keys", "keys.partners", "keys.webhooks", "keys.deliveries"),
    "playground": (),
    "issuer": ("issuer.status", "issuer.issues", "issuer.recon"),
    "health": (),
    "approvals": ("approvals.commands", "approvals.issues"),
    "alerts": ("alerts.routing",),
}

Answers = dict[str, dict[str, Any]]


def console(answers: Answers, screen: str) -> HashInsightApp:
    # A refresh interval longer than any test: the data is fetched once, on connect.
    options = ConsoleOptions(url=URL, api_key="hsk_snapshot", refresh_s=3600.0, start_screen=screen)
    return HashInsightApp(options, client=replay_client(answers))


def until_shown(screen: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Wait until `screen` is connected and drawn from its snapshots, with no fetch in flight."""

    async def ready(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, HashInsightApp)
        deadline = time.monotonic() + READY_WITHIN_S

        def shown() -> bool:
            store = app.store
            return (
                store.state == "connected"
                and store.health is not None
                and app.current_mode == screen
                and all(key in store.snapshots for key in SHOWS[screen])
                and not [w for w in app.workers if w.group != "connection" and not w.is_finished]
            )

        while not shown():
            assert time.monotonic() < deadline, f"{screen}: not drawn within {READY_WITHIN_S}s"
            await pilot.pause(0.05)
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        for area in app.screen.query(TextArea):
            area.cursor_blink = False
        await pilot.pause()
        app.render_current()
        await pilot.pause()

    return ready


@pytest.mark.parametrize("screen", SCREEN_NAMES)
def test_screen(screen: str, answers: Answers, snap_compare: Any) -> None:
    app = console(answers, screen)
    assert snap_compare(app, terminal_size=SIZE, run_before=until_shown(screen))


def test_help_overlay(answers: Answers, snap_compare: Any) -> None:
    app = console(answers, "fleet")
    assert snap_compare(
        app, press=["question_mark"], terminal_size=SIZE, run_before=until_shown("fleet")
    )


@pytest.mark.parametrize("screen", SCREEN_NAMES)
def test_screen_at_80x24(screen: str, answers: Answers, snap_compare: Any) -> None:
    app = console(answers, screen)
    assert snap_compare(app, terminal_size=NARROW, run_before=until_shown(screen))
