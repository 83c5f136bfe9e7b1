"""With REDIS_URL, two backends share one event stream through real Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import isolated_env


async def start_backend(tmp_path: Path, name: str, redis_url: str) -> Backend:
    settings = load_settings(
        isolated_env(tmp_path / name), overrides={"api_port": 0, "redis_url": redis_url}
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    return backend


async def test_ws_client_on_one_instance_sees_events_of_another(
    tmp_path: Path, redis_url: str
) -> None:
    collector = await start_backend(tmp_path, "a", redis_url)
    api = await start_backend(tmp_path, "b", redis_url)
    try:
        key = api.initial_operator_key
        url = api.url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "api_key": key}))
            assert json.loads(await ws.recv())["type"] == "auth_ok"
            await ws.send(json.dumps({"type": "subscribe", "channels": ["health"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            collector.bus.publish("health", "health.update", {"name": "from-collector"})
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message.get("type") == "event" and message["data"]["name"] == "from-collector":
                    break
        assert collector.redis_bridge is not None and collector.redis_bridge.sent >= 1
        # An instance does not receive its own events back through Redis.
        local = collector.bus.subscribe({"health"})
        collector.bus.publish("health", "health.update", {"name": "echo-check"})
        await asyncio.sleep(0.5)
        seen = []
        while not local._queue.empty():
            seen.append((await local.get()).data.get("name"))
        assert seen.count("echo-check") == 1
        report = api.health_report()
        bus_item = next(i for i in report.integrations if i.name == "redis-bus")
        assert bus_item.status == "ok"
    finally:
        await api.stop()
        await collector.stop()


async def test_unreachable_redis_fails_start_clearly(tmp_path: Path) -> None:
    from tests.helpers import free_port

    settings = load_settings(
        isolated_env(tmp_path),
        overrides={"api_port": 0, "redis_url": f"redis://127.0.0.1:{free_port()}/0"},
    )
    backend = Backend(settings, mode="serve")
    try:
        await backend.start()
        raise AssertionError("start should fail without Redis")
    except ConnectionError as exc:
        assert "cannot reach Redis at redis://127.0.0.1" in str(exc)
    finally:
        if hasattr(backend, "db"):
            await backend.stop()
