"""Key revocations reach every instance at once, whoever makes them: `hashinsight keys revoke`
from a shell, and a backend revoking its own operator token as it stops."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from backend.auth.service import KEYS_CHANNEL
from backend.core.bus import EventBus
from backend.core.redis_bridge import RedisBusBridge
from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import eventually, isolated_env
from tests.scale.instances import bearer, running, shared_settings

ROOT = Path(__file__).resolve().parents[2]


async def test_cli_revoke_is_refused_at_once_by_a_running_instance(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    shared = shared_settings(pg_database, redis_url)
    async with running(tmp_path, shared, ("api", "serve", None, {})) as (api,):
        info, key = await api.auth.create_key(name="to revoke", scopes="read", tier="operator")
        async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=10) as client:
            assert (await client.get("/api/v1/me", headers=bearer(key))).status_code == 200
            assert api.auth._good  # cached: without an event it would pass for 60 s more
            env = await asyncio.to_thread(
                isolated_env,
                tmp_path / "shell",
                DATABASE_URL=pg_database,
                REDIS_URL=redis_url,
                HASHINSIGHT_PEPPER=shared["pepper"],
                HASHINSIGHT_FERNET_KEY=shared["fernet_key"],
            )
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hashinsight_cli",
                "keys",
                "revoke",
                info.key_id,
                env=env,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, err.decode()
            assert f"revoked {info.key_id}" in out.decode()
            assert "unreachable" not in err.decode()

            async def refused() -> bool:
                response = await client.get("/api/v1/me", headers=bearer(key))
                return response.status_code == 401

            await eventually(
                refused, 20, what="the instance refuses the key revoked from the shell"
            )


async def test_operator_token_revocation_at_stop_reaches_the_other_instances(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    listener_bus = EventBus()
    listener = RedisBusBridge(listener_bus, redis_url)
    await listener.start()
    changes = listener_bus.subscribe({KEYS_CHANNEL}, name="other instance")
    backend: Backend | None = None
    try:
        env = await asyncio.to_thread(isolated_env, tmp_path / "api")
        settings = load_settings(env, overrides=shared_settings(pg_database, redis_url))
        backend = Backend(settings, mode="serve")
        await backend.start()
        assert backend.operator_token is not None
        token_id = backend.operator_token.split("_")[1]
        await backend.stop()
        backend = None
        seen: set[str] = set()

        def told() -> bool:
            seen.update(event.data["key_id"] for event in changes.poll())
            return token_id in seen

        await eventually(told, 10, what="the token's revocation on the bus of another instance")
    finally:
        if backend is not None:
            await backend.stop()
        await listener.stop()
