"""A console comes back from what the backend does: a restart of `serve` (a console on the local
token re-reads the new `operator-token.json`), a backend that went away, and a revoked key (the
console says so and takes a new key in a dialog)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from backend.core.secrets import read_operator_token
from backend.runtime import BackendThread
from backend.settings import Settings, load_settings
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.launcher import console_options, resolve_target
from hashinsight_tui.screens.key_prompt import KeyPromptScreen
from tests.helpers import free_port, isolated_env, wait_for
from tests.test_serve_attach import read_first_lines, start_serve


@pytest.mark.timeout(240)
async def test_a_local_token_console_survives_a_serve_restart(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    port = free_port()
    process = start_serve(env, port)
    try:
        assert read_first_lines(process, 1)[0].startswith("HashInsight API")
        settings = load_settings(env)
        target = resolve_target(settings, None)
        assert target.embedded is None and target.token_file is not None
        first_token = target.api_key
        app = HashInsightApp(console_options(settings, target))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(lambda: app.store.state == "connected", pilot, 30)

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            await wait_for(lambda: app.store.state != "connected", pilot, 30)

            process = start_serve(env, port)  # a new backend: a new token, the old one revoked
            assert read_first_lines(process, 1)[0].startswith("HashInsight API")
            answering = time.monotonic()
            token = await asyncio.to_thread(read_operator_token, settings)
            assert token is not None and token["api_key"] != first_token
            await wait_for(lambda: app.store.state == "connected", pilot, 60)
            took = time.monotonic() - answering
            assert app.client is not None and app.client.api_key == token["api_key"]
            # Within 5 s of the backend answering; generous here for a loaded machine.
            assert took < 15, f"reconnected {took:.1f}s after the backend answered"
            await wait_for(lambda: app.store.health is not None, pilot)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except Exception:
                process.kill()
                process.wait()


@pytest.mark.timeout(180)
async def test_a_revoked_key_is_said_plainly_and_a_new_one_can_be_entered(
    settings: Settings,
) -> None:
    backend_thread = BackendThread(settings, mode="serve")
    await asyncio.to_thread(backend_thread.start)
    try:
        await _revoke_and_replace(backend_thread)
    finally:
        await asyncio.to_thread(backend_thread.stop)


async def _revoke_and_replace(backend_thread: BackendThread) -> None:
    backend = backend_thread.backend
    info, doomed = backend_thread.call(
        backend.auth.create_key(name="soon revoked", scopes=["read", "stream"])
    )
    _info2, fresh = backend_thread.call(
        backend.auth.create_key(name="replacement", scopes=["read", "stream"])
    )
    app = HashInsightApp(
        ConsoleOptions(url=backend.url, api_key=doomed, refresh_s=0.5, start_screen="health")
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.store.state == "connected", pilot, 30)
        backend_thread.call(backend.auth.revoke(info.key_id, actor="test"))
        # pushed, and composed: its input and buttons are mounted a moment after the push
        await wait_for(
            lambda: isinstance(app.screen, KeyPromptScreen) and bool(app.screen.query("#confirm")),
            pilot,
            30,
        )
        assert app.store.state == "unauthorized"
        prompt = app.screen
        prompt.query_one("#key-input", Input).value = fresh
        prompt.query_one("#confirm").press()  # type: ignore[attr-defined]
        await wait_for(lambda: app.store.state == "connected", pilot, 30)
        await wait_for(
            lambda: app.store.key is not None and app.store.key.name == "replacement", pilot, 30
        )


@pytest.mark.timeout(180)
async def test_a_console_finds_its_backend_again_within_seconds(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path)).model_copy(
        update={"api_host": "127.0.0.1", "api_port": free_port()}
    )
    thread = BackendThread(settings, mode="serve")
    await asyncio.to_thread(thread.start)
    token = thread.backend.initial_operator_key
    assert token is not None
    app = HashInsightApp(ConsoleOptions(url=thread.backend.url, api_key=token, refresh_s=1.0))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(lambda: app.store.state == "connected", pilot, 30)
            await asyncio.to_thread(thread.stop)
            # Long enough down for the old backoff (doubling to 30 s) to wait 16 s.
            await wait_for(lambda: app.store.state == "reconnecting", pilot, 30)
            await asyncio.sleep(17)
            thread = BackendThread(settings, mode="serve")
            await asyncio.to_thread(thread.start)
            answering = time.monotonic()
            await wait_for(lambda: app.store.state == "connected", pilot, 60)
            took = time.monotonic() - answering
            assert took < 8, f"reconnected {took:.1f}s after the backend answered"
    finally:
        await asyncio.to_thread(thread.stop)
