"""Past one machine: two collectors over halves of a simulated fleet, two API-only instances,
one PostgreSQL, one Redis, every process a real `hashinsight` subprocess.

Checked: every miner is polled by exactly one collector in each sweep (sample rows), both APIs
list the whole fleet, a WebSocket client on each sees updates of miners of both shards, exactly
one notary scheduler runs, and after SIGKILL of one collector its miners are flagged stale on
both APIs until the other collector (started with --adopt-stale) takes the shard over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest
import websockets
from sqlalchemy import text

from backend.auth.service import AuthService
from backend.core.db import Database
from backend.core.secrets import load_backend_secrets
from backend.fleet.shard import shard_of
from backend.settings import load_settings
from backend.sim.fleet import FleetSimulator
from tests.helpers import eventually, free_port, isolated_env

ROOT = Path(__file__).resolve().parents[2]
MINERS = 40
STALE_AFTER_S = 4.0
SLOW_S = 90.0  # subprocesses on a loaded host: generous, returns as soon as it holds
POLL_S = 0.2
ADOPT_AFTER_S = 20.0  # well after STALE_AFTER_S: the stale flag must be seen before adoption


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    log: TextIO
    first_line: str = ""

    async def stop(self) -> int | None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()
        return self.process.returncode


async def spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> Proc:
    """Start `hashinsight ARGS` and wait for its first stdout line (it is up by then)."""
    log = (logs / f"{name}.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hashinsight_cli",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    proc = Proc(name, process, log)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
    except TimeoutError:
        await proc.stop()
        raise AssertionError(f"{name} did not start; see {log.name}") from None
    proc.first_line = line.decode().strip()
    assert proc.first_line, f"{name} exited at start: {(logs / f'{name}.log').read_text()[-2000:]}"
    return proc


@dataclass
class WsWatcher:
    """Collects the ids of miners seen in `miner.update` events on one instance, and the fleet
    totals of its `fleet.sweep` summaries."""

    seen: set[str] = field(default_factory=set)
    sweep_totals: list[int] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def run(self, url: str, key: str, ready: asyncio.Event) -> None:
        async with websockets.connect(url, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "api_key": key}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "auth_ok"
            await ws.send(json.dumps({"type": "subscribe", "channels": ["miners"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") != "event":
                    continue
                if message.get("event") == "miner.update":
                    self.seen.add(message["data"]["id"])
                elif message.get("event") == "fleet.sweep":
                    self.sweep_totals.append(message["data"]["total"])


async def list_miners(client: httpx.AsyncClient, url: str, key: str) -> dict[str, dict[str, Any]]:
    reply = await client.get(
        f"{url}/api/v1/miners",
        params={"limit": 1000, "fields": "summary"},
        headers={"Authorization": f"Bearer {key}"},
    )
    reply.raise_for_status()
    return {item["id"]: item for item in reply.json()["items"]}


async def samples_by_miner(db: Database) -> dict[str, list[float]]:
    async with db.session() as session:
        rows = (await session.execute(text("SELECT miner_id, ts FROM fleet_samples"))).all()
    by_miner: dict[str, list[float]] = defaultdict(list)
    for miner_id, ts in rows:
        by_miner[miner_id].append(ts.timestamp())
    return by_miner


async def heartbeats(db: Database) -> dict[str, dict[str, Any]]:
    async with db.session() as session:
        rows = (await session.execute(text("SELECT * FROM fleet_collectors"))).mappings().all()
    return {row["shard"]: dict(row) for row in rows}


def assert_polled_once_per_sweep(by_miner: dict[str, list[float]], shard: Iterable[str]) -> int:
    """All miners of a shard were polled in the same sweeps, each exactly once per sweep."""
    ids = list(shard)
    sweeps = set(by_miner[ids[0]])
    for miner_id in ids:
        stamps = by_miner[miner_id]
        assert len(stamps) == len(set(stamps)), f"{miner_id} polled twice in one sweep"
        assert set(stamps) == sweeps, f"{miner_id} missed or got extra sweeps"
    return len(sweeps)


@pytest.fixture
async def fleet() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(MINERS, use_ports=True, families=["antminer", "whatsminer"]) as sim:
        yield sim


@pytest.mark.timeout(420)
async def test_two_collectors_two_api_instances(
    tmp_path: Path, redis_url: str, pg_database: str, fleet: FleetSimulator
) -> None:
    ids = [f"{host}:{port}" for host, port in fleet.addresses]
    halves = {i: [m for m in ids if shard_of(m, 2) == i] for i in (1, 2)}
    assert halves[1] and halves[2] and len(halves[1]) + len(halves[2]) == MINERS

    shared = {
        "DATABASE_URL": pg_database,
        "REDIS_URL": redis_url,
        "HASHINSIGHT_MINERS": ",".join(ids),
        "HASHINSIGHT_PEPPER": "p" * 32,
        "HASHINSIGHT_FLEET_POLL_INTERVAL_S": "1",
        "HASHINSIGHT_FLEET_STALE_AFTER_S": str(STALE_AFTER_S),
        "HASHINSIGHT_FLEET_SHARD_LEASE_TTL_S": "10",
        "HASHINSIGHT_LOG_LEVEL": "info",
    }

    def make_envs() -> dict[str, dict[str, str]]:  # seeds a migrated SQLite file: a thread
        return {
            name: {
                "PATH": os.environ["PATH"],
                "PYTHONPATH": str(ROOT),
                **isolated_env(tmp_path / name, **shared),
            }
            for name in ("setup", "api1", "api2", "c1", "c2")
        }

    envs = await asyncio.to_thread(make_envs)
    env_for = envs.__getitem__

    # One read+stream key for both API instances (same database, same pepper).
    settings = load_settings(env_for("setup"))
    db = Database(settings.effective_database_url)
    await db.upgrade()
    _info, key = await AuthService(db, load_backend_secrets(settings)).create_key(
        name="scale test", owner_type="partner", scopes="read,stream", tier="enterprise"
    )

    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, Proc] = {}
    watchers = {"api1": WsWatcher(), "api2": WsWatcher()}
    try:
        for name in ("api1", "api2"):
            port = free_port()
            args = ["serve", "--no-collect", "--port", str(port)]
            procs[name] = await spawn(name, args, env_for(name), logs)
            assert procs[name].first_line == f"HashInsight API: http://127.0.0.1:{port}"
        urls = {name: procs[name].first_line.split(": ", 1)[1] for name in watchers}
        for name, watcher in watchers.items():
            ready = asyncio.Event()
            ws_url = urls[name].replace("http://", "ws://") + "/ws"
            watcher.task = asyncio.create_task(watcher.run(ws_url, key, ready))
            await asyncio.wait_for(ready.wait(), 30)

        procs["c1"] = await spawn("c1", ["collector", "--shard", "1/2"], env_for("c1"), logs)
        adopt = ["--adopt-stale", "--adopt-after", str(ADOPT_AFTER_S)]
        procs["c2"] = await spawn(
            "c2", ["collector", "--shard", "2/2", *adopt], env_for("c2"), logs
        )
        assert procs["c1"].first_line == "HashInsight collector: shard 1/2"

        # A WebSocket client on either instance sees updates of miners from both shards.
        for name, watcher in watchers.items():
            await eventually(
                lambda w=watcher: w.seen >= set(ids),
                SLOW_S,
                POLL_S,
                what=f"all miner updates on {name}",
            )
            # Each collector sweeps half the fleet; a client is told the whole fleet's totals.
            await eventually(
                lambda w=watcher: w.sweep_totals, SLOW_S, POLL_S, what=f"a fleet summary on {name}"
            )
            assert set(watcher.sweep_totals) == {len(ids)}, watcher.sweep_totals

        async with httpx.AsyncClient(timeout=10) as client:
            # Both API instances list the whole fleet, live, nothing stale.
            for name, url in urls.items():

                async def whole(url: str = url) -> bool:
                    miners = await list_miners(client, url, key)
                    return set(miners) == set(ids) and all(
                        m["status"] == "online" and not m["stale"] for m in miners.values()
                    )

                await eventually(whole, SLOW_S, POLL_S, what=f"{name} lists every miner online")

            # Every miner polled exactly once per sweep, by the collector of its shard only.
            await eventually(
                lambda: _sweeps_done(db, 3), 60, POLL_S, what="three sweeps by each collector"
            )
            by_miner = await samples_by_miner(db)
            assert set(by_miner) == set(ids)
            for half in halves.values():
                assert assert_polled_once_per_sweep(by_miner, half) >= 3
            assert not set(by_miner[halves[1][0]]) & set(by_miner[halves[2][0]])
            beats = await heartbeats(db)
            assert beats["1/2"]["miners"] + beats["2/2"]["miners"] == MINERS

            # Exactly one notary scheduler across the two API instances.
            async with db.session() as session:
                holders = (
                    await session.execute(
                        text("SELECT holder FROM leases WHERE name = 'notary-scheduler'")
                    )
                ).all()
            api_pids = {str(procs[n].process.pid) for n in ("api1", "api2")}
            assert len(holders) == 1 and holders[0][0].split(":")[1] in api_pids

            # SIGKILL collector 1: its miners turn stale on both APIs, the others stay fresh.
            c1_holder = beats["1/2"]["holder"]
            procs["c1"].process.kill()
            await procs["c1"].process.wait()
            for name, url in urls.items():

                async def shard_stale(url: str = url) -> bool:
                    miners = await list_miners(client, url, key)
                    return all(miners[m]["stale"] for m in halves[1]) and not any(
                        miners[m]["stale"] for m in halves[2]
                    )

                await eventually(
                    shard_stale, ADOPT_AFTER_S, POLL_S, what=f"shard 1/2 stale on {name}"
                )
                auth = {"Authorization": f"Bearer {key}"}
                one = (await client.get(f"{url}/api/v1/miners/{halves[1][0]}", headers=auth)).json()
                summary = (await client.get(f"{url}/api/v1/fleet/summary", headers=auth)).json()
                assert one["stale"] is True and summary["stale"] >= len(halves[1]) - 1
                assert {s["shard"] for s in summary["shards"]} >= {"2/2"}

            # Collector 2 adopts the dead shard through its lease; the miners are fresh again.
            c2_pid = str(procs["c2"].process.pid)

            async def adopted() -> bool:
                beat = (await heartbeats(db)).get("1/2", {})
                return beat.get("holder") not in (None, c1_holder) and beat.get("sweeps", 0) >= 2

            await eventually(adopted, 120, POLL_S, what="collector 2 sweeps shard 1/2")
            assert (await heartbeats(db))["1/2"]["holder"].split(":")[1] == c2_pid
            for name, url in urls.items():

                async def fresh(url: str = url) -> bool:
                    miners = await list_miners(client, url, key)
                    return not any(m["stale"] for m in miners.values())

                await eventually(fresh, 60, POLL_S, what=f"no stale miner on {name} after adoption")
    finally:
        for watcher in watchers.values():
            if watcher.task is not None:
                watcher.task.cancel()
                with contextlib.suppress(BaseException):
                    await watcher.task
        codes = {name: await proc.stop() for name, proc in procs.items()}
        await db.close()
    # SIGTERM stops every survivor cleanly.
    assert all(codes[n] == 0 for n in ("api1", "api2", "c2")), codes


async def _sweeps_done(db: Database, count: int) -> bool:
    beats = await heartbeats(db)
    return all(beats.get(k, {}).get("sweeps", 0) >= count for k in ("1/2", "2/2"))
