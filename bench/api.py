"""Benchmark of the partner API: authenticated GETs per second and WebSocket fan-out.

    python bench/api.py [--seconds 8] [--subscribers 1000] [--rate 20]

The backend runs in its own process pinned to one core (the load generator on the other), with
the production Argon2id profile. Phases:
  1. GET /api/v1/me with one key: the verification cache answers (cached path);
  2. the same with the positive cache disabled: one DB row + one Argon2id check per request
     (uncached path), which is what a flood of new or revoked keys costs;
  3. WebSocket fan-out: N subscribers on `bench` (operator keys, 100 connections each), the backend
     publishes `rate` events per second; reported: messages/s delivered and the bus-to-client delay
     (p50/p95/p99/max, from the publish timestamp to the client's receive time, same host clock).
Loopback only; every phase is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pin(core: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[core % len(cores)]})


# --- the server process -----------------------------------------------------------------------


def server_main(conn: Any, data_dir: str) -> None:
    _pin(0)
    asyncio.run(_server(conn, data_dir))


async def _server(conn: Any, data_dir: str) -> None:
    from backend.core.settings import load_settings
    from backend.runtime import Backend

    env = {"HASHINSIGHT_DATA_DIR": data_dir, "HASHINSIGHT_CONFIG_DIR": data_dir, "HOME": data_dir}
    settings = load_settings(
        env,
        overrides={
            "api_port": 0,
            "market_enabled": False,
            "notary_enabled": False,
            "issuer_enabled": False,
            "ratelimit_operator_per_min": 10_000_000,
            "ratelimit_operator_per_hour": 100_000_000,
            "ws_queue_size": 10_000,
        },
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    backend.channels.add("bench")
    ws_keys = []
    for n in range(10):
        _info, key = await backend.auth.create_key(
            name=f"bench ws {n}", scopes=["read", "stream"], tier="operator"
        )
        ws_keys.append(key)
    get_keys = []
    for n in range(16):  # distinct keys: concurrent checks of one key would share one Argon2id
        _info, key = await backend.auth.create_key(name=f"bench get {n}", tier="operator")
        get_keys.append(key)
    conn.send(
        {
            "url": backend.url,
            "key": backend.initial_operator_key,
            "ws_keys": ws_keys,
            "get_keys": get_keys,
        }
    )
    loop = asyncio.get_running_loop()
    original_set = backend.auth._good.set
    try:
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command["op"] == "uncached":
                backend.auth._good.set = lambda *_a, **_k: None  # type: ignore[method-assign]
                backend.auth._good.clear()
            elif command["op"] == "cached":
                backend.auth._good.set = original_set  # type: ignore[method-assign]
            elif command["op"] == "publish":
                sent = await _publish(backend, command["rate"], command["seconds"])
                conn.send({"ok": True, "published": sent})
                continue
            elif command["op"] == "stop":
                conn.send({"ok": True})
                break
            conn.send({"ok": True})
    finally:
        await backend.stop()


async def _publish(backend: Any, rate: float, seconds: float) -> int:
    interval = 1.0 / rate
    deadline = time.monotonic() + seconds
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        backend.bus.publish("bench", "bench.tick", {"n": n, "sent": time.time()})
        n += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return n


# --- the load generator -----------------------------------------------------------------------


async def get_load(url: str, keys: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    """Keep-alive HTTP/1.1 GETs on raw sockets (the load generator must cost less than the
    server it measures; a full HTTP client library here would be the bottleneck)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = [
        f"GET /api/v1/me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        for key in keys
    ]
    done = 0
    errors = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(request: bytes) -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in lines
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.monotonic() - started)
                if lines[0].split(b" ")[1] == b"200":
                    done += 1
                else:
                    errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(requests[n % len(requests)]) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests_per_s": done / elapsed,
        "errors": errors,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else 0.0,
    }


async def fanout(
    url: str, keys: list[str], subscribers: int, conn: Any, rate: float, seconds: float
) -> dict[str, float]:
    import websockets

    ws_url = url.replace("http://", "ws://") + "/ws"
    delays: list[float] = []
    received = 0
    last_at: float | None = None
    closes: dict[str, int] = {}

    async def subscriber(index: int, ready: asyncio.Event, go: asyncio.Event) -> None:
        nonlocal received, last_at
        key = keys[index // 100]
        async with websockets.connect(ws_url, max_queue=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "auth", "api_key": key}))
            json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "subscribe", "channels": ["bench"]}))
            json.loads(await ws.recv())
            ready.set()
            await go.wait()
            try:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 3.0))
                    if message.get("type") == "event":
                        delays.append(time.time() - message["data"]["sent"])
                        received += 1
                        last_at = time.monotonic()
            except TimeoutError:
                closes["idle (all received)"] = closes.get("idle (all received)", 0) + 1
            except websockets.ConnectionClosed as exc:
                code = str(exc.rcvd.code if exc.rcvd else "no close frame")
                closes[code] = closes.get(code, 0) + 1

    go = asyncio.Event()
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = []
    for index in range(subscribers):
        tasks.append(asyncio.create_task(subscriber(index, readies[index], go)))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # do not stampede the accept queue
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    go.set()
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.send, {"op": "publish", "rate": rate, "seconds": seconds})
    published = (await loop.run_in_executor(None, conn.recv))["published"]
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.monotonic() - started
    delays.sort()

    def pct(p: float) -> float:
        return delays[min(len(delays) - 1, int(len(delays) * p))] * 1000 if delays else 0.0

    return {
        "subscribers": subscribers,
        "events_asked_per_s": rate,
        "events_published": published,
        "messages_received": received,
        "messages_expected": published * subscribers,
        "messages_per_s": received / max(1e-9, (last_at or started) - started),
        "delay_p50_ms": pct(0.50),
        "delay_p95_ms": pct(0.95),
        "delay_p99_ms": pct(0.99),
        "delay_max_ms": delays[-1] * 1000 if delays else 0.0,
        "elapsed_s": elapsed,
        "mean_delay_ms": statistics.fmean(delays) * 1000 if delays else 0.0,
        "subscriber_endings": closes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--rates", default="5,50", help="events per second published, one fan-out run each"
    )
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as data_dir:
        parent, child = ctx.Pipe()
        server = ctx.Process(target=server_main, args=(child, data_dir), daemon=True)
        server.start()
        child.close()  # only the server holds that end now: its exit is seen as EOF
        try:
            if not parent.poll(180):
                raise SystemExit("the backend process did not start within 180 s")
            info = parent.recv()
            _pin(1)
            log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
            log(f"backend up at {info['url']}; phase 1: cached GETs")
            results: dict[str, Any] = {"cpu_cores": os.cpu_count()}
            results["get_cached"] = asyncio.run(
                get_load(info["url"], [info["key"]], args.seconds, args.concurrency)
            )
            log(f"  {results['get_cached']}\nphase 2: uncached GETs (Argon2id per request)")
            parent.send({"op": "uncached"})
            parent.recv()
            results["get_uncached_argon2"] = asyncio.run(
                get_load(info["url"], info["get_keys"], args.seconds, args.concurrency)
            )
            log(f"  {results['get_uncached_argon2']}\nphase 3: {args.subscribers} subscribers")
            parent.send({"op": "cached"})
            parent.recv()
            for rate in (float(r) for r in args.rates.split(",")):
                log(f"  fan-out at {rate:g} events/s to {args.subscribers} subscribers")
                results[f"ws_fanout_{rate:g}_per_s"] = asyncio.run(
                    fanout(
                        info["url"],
                        info["ws_keys"],
                        args.subscribers,
                        parent,
                        rate,
                        args.seconds,
                    )
                )
            parent.send({"op": "stop"})
            with contextlib.suppress(EOFError):
                parent.recv()
        finally:
            server.join(15)
            if server.is_alive():
                server.terminate()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
