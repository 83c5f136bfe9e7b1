"""An alert acknowledged on an API-only instance reaches the collector that holds it in memory
(through Redis at once; from the database without Redis), and every instance's WebSocket
clients see the acknowledgement."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import websockets

from backend.fleet.service import FleetService
from backend.fleet.shard import FleetRole, ShardSpec
from backend.runtime import Backend
from tests.helpers import eventually, free_port
from tests.scale.instances import bearer, running, shared_settings

API_ONLY = FleetRole(collect=False)


def collector_settings() -> dict[str, Any]:
    """One miner nobody answers for: it is offline, so an `offline` alert is raised at once."""
    return {
        "fleet_enabled": True,
        "miners": [f"127.0.0.1:{free_port()}"],
        "fleet_poll_interval_s": 0.5,
        "fleet_alert_raise_sweeps": 1,
    }


def book_state(collector: Backend, alert_id: int) -> str | None:
    fleet = collector.services_by_name["fleet"]
    assert isinstance(fleet, FleetService)
    record = next((a for a in fleet.book.open.values() if a.id == alert_id), None)
    return record.state if record is not None else None


async def raised_alert(client: httpx.AsyncClient, key: str) -> int:
    async def first() -> int | None:
        response = await client.get("/api/v1/alerts?state=raised", headers=bearer(key))
        items = response.json()["items"] if response.status_code == 200 else []
        return items[0]["id"] if items else None

    return int(await eventually(first, 30, what="the collector raises the offline alert"))


async def watch_alerts(
    url: str, key: str, seen: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with websockets.connect(url.replace("http", "ws") + "/ws", open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": key}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        await ws.send(json.dumps({"type": "subscribe", "channels": ["alerts"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "event":
                seen.append(message)


async def test_ack_on_an_api_instance_reaches_the_collector_and_every_stream(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    shared = shared_settings(pg_database, redis_url)
    async with running(
        tmp_path,
        shared,
        ("a", "serve", API_ONLY, {}),
        ("b", "serve", API_ONLY, {}),
        ("collector", "collector", FleetRole(shard=ShardSpec()), collector_settings()),
    ) as (a, b, collector):
        key = a.initial_operator_key
        assert key is not None
        seen: list[dict[str, Any]] = []
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch_alerts(b.url, key, seen, ready))
        try:
            await asyncio.wait_for(ready.wait(), 20)
            async with httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10) as on_a:
                alert_id = await raised_alert(on_a, key)
                await eventually(
                    lambda: book_state(collector, alert_id) == "raised", 30, what="held"
                )
                response = await on_a.post(
                    f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(key)
                )
                assert response.status_code == 200, response.text
            await eventually(
                lambda: book_state(collector, alert_id) == "acknowledged",
                10,  # with Redis the event carries it; the database re-read is 30 s away
                what="the collector's alert book has the acknowledgement",
            )
            await eventually(
                lambda: any(
                    m["event"] == "alert.acknowledged" and m["data"]["id"] == alert_id for m in seen
                ),
                30,
                what="a WebSocket client of the other API instance sees the acknowledgement",
            )
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


async def test_without_redis_the_collector_reads_the_ack_from_the_database(
    tmp_path: Path, pg_database: str
) -> None:
    shared = shared_settings(pg_database, None)
    async with running(
        tmp_path,
        shared,
        ("a", "serve", API_ONLY, {}),
        ("collector", "collector", FleetRole(shard=ShardSpec()), collector_settings()),
    ) as (a, collector):
        key = a.initial_operator_key
        assert key is not None
        async with httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10) as on_a:
            alert_id = await raised_alert(on_a, key)
            await eventually(lambda: book_state(collector, alert_id) == "raised", 30, what="held")
            response = await on_a.post(
                f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(key)
            )
            assert response.status_code == 200, response.text
        await eventually(
            lambda: book_state(collector, alert_id) == "acknowledged",
            30,
            what="the collector's alert book has the acknowledgement",
        )
