"""The failed-auth throttle per address and the WebSocket connection cap per key are one limit
across API instances with Redis, and fall back to counting per instance while Redis is down."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

from backend.auth.shared_throttle import SharedAuthThrottle
from backend.auth.throttle import AuthThrottle, ThrottlePolicy
from backend.auth.ws_slots import SharedConnectionSlots
from backend.core.bus import EventBus
from backend.core.shared_state import RedisStore
from backend.runtime import Backend
from tests.helpers import eventually, free_port
from tests.scale.instances import bearer, running, shared_settings

BLOCK_AFTER = 6
THROTTLE = {
    "auth_fail_slow_after": 1000,  # no delays: the test is about counting, not waiting
    "auth_fail_block_after": BLOCK_AFTER,
    "auth_block_s": 600,
    "api_trusted_proxies": "127.0.0.1/32",  # the test names its client address
}
WRONG_KEY = "hsk_aaaaaaaaaaaa_" + "0" * 64


async def test_failed_authentications_add_up_across_instances(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    shared = {**shared_settings(pg_database, redis_url), **THROTTLE}
    instances = [("a", "serve", None, {}), ("b", "serve", None, {})]
    async with running(tmp_path, shared, *instances) as (a, b):  # type: ignore[arg-type]
        _info, good = await a.auth.create_key(name="good", scopes="read", tier="operator")
        # An address of its own: Redis lives for the session, other tests' failures stay apart.
        client = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(250) + 1}"}
        async with (
            httpx.AsyncClient(base_url=a.url, trust_env=False, timeout=10, headers=client) as on_a,
            httpx.AsyncClient(base_url=b.url, trust_env=False, timeout=10, headers=client) as on_b,
        ):
            assert (await on_b.get("/api/v1/me", headers=bearer(good))).status_code == 200
            for n in range(BLOCK_AFTER - 1):  # spread over both: neither reaches the limit alone
                response = await (on_a if n % 2 else on_b).get(
                    "/api/v1/me", headers=bearer(WRONG_KEY)
                )
                assert response.status_code == 401
            last = await on_a.get("/api/v1/me", headers=bearer(WRONG_KEY))
            assert last.status_code == 401  # the failure that reaches the limit

            async def refused(client: httpx.AsyncClient) -> bool:
                response = await client.get("/api/v1/me", headers=bearer(good))
                return response.status_code == 429

            await eventually(lambda: refused(on_a), 30, what="A blocks the address")
            await eventually(lambda: refused(on_b), 30, what="B blocks the address A blocked")
            blocked = await on_b.get("/api/v1/me", headers=bearer(good))
            assert blocked.json()["error"]["code"] == "auth_blocked"
            assert int(blocked.headers["Retry-After"]) > 1


async def _connect(backend: Backend, key: str) -> websockets.ClientConnection | int:
    """An authenticated connection, or the close code the server answered with."""
    ws = await websockets.connect(backend.url.replace("http", "ws") + "/ws", open_timeout=10)
    await ws.send(json.dumps({"type": "auth", "api_key": key}))
    try:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "auth_ok":
                return ws
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else -1


async def test_websocket_connections_per_key_are_one_limit_across_instances(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    shared = shared_settings(pg_database, redis_url)
    instances = [("a", "serve", None, {}), ("b", "serve", None, {})]
    async with running(tmp_path, shared, *instances) as (a, b):  # type: ignore[arg-type]
        _info, key = await a.auth.create_key(
            name="pro partner", owner_type="partner", scopes="read,stream", tier="pro"
        )
        limit = 5  # the pro tier's open connections per key
        opened = []
        try:
            for n in range(limit):
                ws = await _connect(a if n < 3 else b, key)
                assert not isinstance(ws, int), f"connection {n + 1} refused with {ws}"
                opened.append(ws)
            assert await _connect(b, key) == 4029  # B holds 2, but the key holds 5
            assert await _connect(a, key) == 4029
            await opened.pop(0).close()  # one of A's closes: its place is free on B

            async def admitted() -> bool:
                ws = await _connect(b, key)
                if isinstance(ws, int):
                    return False
                opened.append(ws)
                return True

            await eventually(admitted, 30, what="B admits a connection once one of A's closed")
        finally:
            for ws in opened:
                await ws.close()


async def test_without_redis_each_instance_counts_alone() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", None, "redis-limits")
    try:
        policy = ThrottlePolicy(slow_after=1000, block_after=3, block_s=60)
        throttle = SharedAuthThrottle(store, AuthThrottle(policy), EventBus())
        for _ in range(3):
            assert await throttle.failure("10.0.0.9") == 0.0
        assert throttle.blocked_for("10.0.0.9") is not None
        assert throttle.local_failures == 3
        slots = SharedConnectionSlots(store)
        held = [await slots.acquire("key", 2) for _ in range(2)]
        assert all(slot is not None and not slot.shared for slot in held)
        assert await slots.acquire("key", 2) is None
        assert held[0] is not None
        await slots.release(held[0])
        assert await slots.acquire("key", 2) is not None
    finally:
        await store.close()
