"""The fixed world of the console's snapshot tests: backend answers recorded once from the demo.

The snapshot tests run the real console (connection worker, screens' `fetch`, the SDK's parsing)
against a client whose HTTP transport replays these answers and whose stream stays silent, with
the clock frozen at the moment the answers were recorded: the same pixels on any machine.

Re-record (after an API change, or to show new data) with `python -m tests.console.snapshot_world`;
the demo world runs on loopback for about a minute and the answers go to `snapshot_world.json`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from hashinsight_tui.client import HashInsightClient, StreamEvent

RECORDING = Path(__file__).with_name("snapshot_world.json")
URL = "http://127.0.0.1:8765"  # what the status bar shows; nothing listens there
DROPPED_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "date"}


def request_key(request: httpx.Request) -> str:
    """`GET /api/v1/x?a=1&b=2`: method, path and the query in a stable order."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.url.params.multi_items()))
    return f"{request.method} {request.url.path}" + (f"?{query}" if query else "")


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes every request to the backend and keeps its last answer per request."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        headers = {k: v for k, v in response.headers.items() if k.lower() not in DROPPED_HEADERS}
        self.answers[request_key(request)] = {
            "status": response.status_code,
            "headers": headers,
            "body": json.loads(content) if content else None,
        }
        return httpx.Response(response.status_code, headers=headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers from the recording; a request that was never recorded gets a 404 naming it."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request)
        answer = self.answers.get(key)
        if answer is None:
            error = {"error": {"code": "not_recorded", "message": f"{key} was not recorded"}}
            return httpx.Response(404, json=error)
        body = answer["body"]
        content = b"" if body is None else json.dumps(body).encode()
        return httpx.Response(answer["status"], headers=answer["headers"], content=content)


class ReplayClient(HashInsightClient):
    """The SDK client on the recording; its event stream connects and then stays silent."""

    async def stream(
        self,
        channels: Iterable[str],
        filters: dict[str, Any] | None = None,
        *,
        open_timeout_s: float = 10.0,
        only_available: bool = False,
        on_subscribed: Callable[[], object] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        if on_subscribed is not None:
            on_subscribed()  # a recording has nothing to wait for: subscribed at once
        await asyncio.Event().wait()
        yield StreamEvent("", "", {}, 0.0)  # never reached: makes this an async generator


def load_recording(path: Path = RECORDING) -> tuple[float, dict[str, dict[str, Any]]]:
    """(the moment the answers were recorded, the answers by request)."""
    data = json.loads(path.read_text())
    return float(data["captured_at"]), data["answers"]


def replay_client(answers: dict[str, dict[str, Any]]) -> ReplayClient:
    return ReplayClient(URL, "hsk_snapshot", transport=ReplayTransport(answers))


# --- recording ---------------------------------------------------------------------------------

SETTLE_S = 4.0


async def seed(client: HashInsightClient) -> None:
    """What the demo does not make by itself: a notarization, a partner with a webhook."""
    notarization = await client.request_notarization()
    for _ in range(120):
        if (await client.notarization(notarization.id)).status != "running":
            break
        await asyncio.sleep(0.5)
    partner = await client.register_partner(
        "Acme Explorer", integration_type="explorer", contact="ops@acme.example"
    )
    kinds = [item.type for item in (await client.webhook_event_types()).items][:2]
    webhook = await client.create_webhook(
        "https://127.0.0.1:9/hooks/hashinsight",
        kinds,
        description="Acme alerts",
        partner_id=partner.partner.partner_id,
    )
    await client.test_webhook(webhook.webhook_id)  # nothing listens there: a failed delivery


async def record(out: Path = RECORDING) -> None:
    """Run the demo world, open every screen with a recording client, save what it answered."""
    from backend.settings import load_settings
    from backend.sim.demo_world import DemoWorld
    from hashinsight_tui.app import SCREENS, HashInsightApp
    from hashinsight_tui.launcher import console_options, demo_settings, start_embedded
    from tests.helpers import isolated_env

    with tempfile.TemporaryDirectory(prefix="hashinsight-record-") as tmp:
        env = isolated_env(
            Path(tmp), HASHINSIGHT_MARKET_ENABLED="true", HASHINSIGHT_WEBHOOKS_ALLOW_PRIVATE="true"
        )
        settings = demo_settings(load_settings(env))
        target = await asyncio.to_thread(start_embedded, settings, "demo", DemoWorld())
        answers: dict[str, dict[str, Any]] = {}
        try:
            async with HashInsightClient(target.url, target.api_key) as seeder:
                await seed(seeder)
            options = console_options(settings, target)
            transport = RecordingTransport(answers)
            client = HashInsightClient(target.url, target.api_key, transport=transport)
            app = HashInsightApp(options, client=client)
            async with app.run_test(size=(120, 36)) as pilot:
                for _ in range(200):
                    if app.store.state == "connected" and app.store.health is not None:
                        break
                    await pilot.pause(0.1)
                await pilot.pause(SETTLE_S)
                for _name, _title, key, _cls in SCREENS:
                    await pilot.press(key)
                    await pilot.pause(SETTLE_S)
                captured_at = time.time()
        finally:
            if target.embedded is not None:
                await asyncio.to_thread(target.embedded.stop)
    recording = {"captured_at": captured_at, "answers": dict(sorted(answers.items()))}
    text = json.dumps(recording, indent=1, sort_keys=True) + "\n"
    await asyncio.to_thread(out.write_text, text)


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else RECORDING))
