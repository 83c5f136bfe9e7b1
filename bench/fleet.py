"""Fleet sweep benchmark: 1,000 / 5,000 / 10,000 simulated miners, simulator in its own process.

    python bench/fleet.py                      # all sizes, all clients
    python bench/fleet.py --sizes 1000 --pyasic-python /tmp/pyasic-venv/bin/python

For each size, each client runs in a fresh process (so CPU seconds and peak RSS are its own)
and sweeps the same simulated fleet once with ``summary+stats+pools`` per miner:

- ours:        CgminerClient (one per miner) + normalize, bounded worker pool
- poller:      the production Poller's warm sweep (family plans, alerts, economics, one DB
               write of every sample), i.e. what the backend does every 10 s
- pyasic:      pyasic's CGMinerRPCAPI.multicommand, same concurrency, if its venv exists
- sequential:  blocking sockets, one miner after another, like the original deployment
               (timed on the first 1,000 miners and extrapolated above that)

pyasic is never installed into the project: give ``--pyasic-python`` a separate venv.

The simulator runs in ``--sim-procs`` processes (each serves every Nth miner). A worker
sets itself up (imports, inventory, the poller's cold sweep), says READY and waits: the
simulator's CPU is read just before and after the measured sweep, so both CPU figures
cover exactly that sweep. On a shared 2-core machine wall time depends on what else runs;
client CPU seconds bound the wall time the client would need on a core of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE_IP = "127.20.0.1"
COMMANDS = ("summary", "stats", "pools")
SEQUENTIAL_SAMPLE = 1000

PYASIC_WORKER = r"""
import asyncio, json, resource, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from pyasic.rpc.cgminer import CGMinerRPCAPI
hosts = json.load(open(sys.argv[1])); concurrency = int(sys.argv[2])
async def main():
    gate = asyncio.Semaphore(concurrency)
    ok = 0
    async def one(host):
        nonlocal ok
        async with gate:
            try:
                data = await CGMinerRPCAPI(host).multicommand("summary", "stats", "pools")
                ok += bool(data.get("summary"))
            except Exception:
                pass
    print("READY", flush=True)
    sys.stdin.readline()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(h) for h in hosts))
    return ok, time.perf_counter() - t0, time.process_time() - cpu0
ok, wall, cpu = asyncio.run(main())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ok": ok, "wall": wall, "cpu": cpu, "rss_mb": rss}))
"""


# ---------------------------------------------------------------------- workers (subprocess)


def ready() -> None:
    """Set up: tell the driver, and start when it says so (it reads the simulator's CPU)."""
    print("READY", flush=True)
    sys.stdin.readline()


def hosts(count: int) -> list[str]:
    from backend.sim.fleet import iter_loopback_addresses

    return list(iter_loopback_addresses(BASE_IP, count))


async def worker_ours(count: int, concurrency: int) -> dict[str, Any]:
    from backend.fleet.client import CgminerClient, snapshot_for_error
    from backend.fleet.codec import CgminerError
    from backend.fleet.normalize import normalize

    clients = [CgminerClient(h, 4028) for h in hosts(count)]
    queue = iter(clients)
    ok = 0
    ready()

    async def work() -> None:
        nonlocal ok
        for client in queue:
            try:
                snap = normalize(await client.multi(COMMANDS))
            except CgminerError as exc:
                snap = snapshot_for_error(exc)
            ok += snap.status == "online"

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(work() for _ in range(min(concurrency, count))))
    return {"ok": ok, "wall": time.perf_counter() - t0, "cpu": time.process_time() - cpu0}


async def worker_poller(count: int, concurrency: int) -> dict[str, Any]:
    from backend.core.bus import EventBus
    from backend.core.clock import SYSTEM_CLOCK
    from backend.core.db import Database
    from backend.core.settings import load_settings
    from backend.fleet.alerts import AlertBook, RuleSet
    from backend.fleet.inventory import MinerSpec
    from backend.fleet.poller import Poller
    from backend.fleet.store import FleetStore

    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_CONFIG_HOME": f"{tmp}/c", "XDG_DATA_HOME": f"{tmp}/d", "HOME": tmp}
        settings = load_settings(env, overrides={"fleet_concurrency": concurrency})
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await db.upgrade()
        specs = [MinerSpec(id=f"{h}:4028", host=h) for h in hosts(count)]
        store = FleetStore(db)
        await store.ensure_miners(specs, "config", SYSTEM_CLOCK.now())
        book = AlertBook(2, 3)
        poller = Poller(
            settings,
            store,
            EventBus(),
            SYSTEM_CLOCK,
            rules=RuleSet(settings),
            book=book,
            mailer=None,
        )
        poller.set_inventory(specs)
        cold_t0 = time.perf_counter()
        await poller.sweep()  # cold: learns each miner's firmware family
        cold = time.perf_counter() - cold_t0
        ready()
        cpu0, t0 = time.process_time(), time.perf_counter()
        summary = await poller.sweep()
        result = {
            "ok": summary["online"],
            "wall": time.perf_counter() - t0,
            "cpu": time.process_time() - cpu0,
            "cold_wall": cold,
        }
        await db.close()
    return result


def worker_sequential(count: int) -> dict[str, Any]:
    import socket

    from backend.fleet.codec import decode_reply, split_joined
    from backend.fleet.normalize import normalize

    sample = hosts(min(count, SEQUENTIAL_SAMPLE))
    payload = json.dumps({"command": "+".join(COMMANDS)}).encode()
    ok = 0
    ready()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for host in sample:
        try:
            with socket.create_connection((host, 4028), timeout=3) as sock:
                sock.sendall(payload)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    if chunk.endswith(b"\x00"):
                        break
            ok += normalize(split_joined(decode_reply(b"".join(chunks)))).status == "online"
        except Exception:
            continue
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    scale = count / len(sample)
    return {
        "ok": round(ok * scale),
        "wall": wall * scale,
        "cpu": cpu * scale,
        "extrapolated_from": len(sample) if scale > 1 else None,
    }


def run_worker(kind: str, count: int, concurrency: int) -> None:
    if kind == "sequential":
        result = worker_sequential(count)
    else:
        runner = worker_ours if kind == "ours" else worker_poller
        result = asyncio.run(runner(count, concurrency))
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# ---------------------------------------------------------------------- driver


def spawn_simulators(count: int, procs: int) -> list[subprocess.Popen[str]]:
    """``procs`` simulator processes, each serving every ``procs``-th miner."""
    started: list[subprocess.Popen[str]] = []
    for shard in range(procs):
        command = [
            sys.executable,
            "-m",
            "backend.sim.fleet",
            "--count",
            str(count),
            "--base-ip",
            BASE_IP,
            "--shard",
            f"{shard}/{procs}",
        ]
        started.append(
            subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        )
    for process in started:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("simulating"):
            for other in started:
                other.kill()
            raise SystemExit(f"simulator did not start: {line!r}")
    return started


def measure(
    args: list[str], simulators: list[subprocess.Popen[str]], python: str = sys.executable
) -> tuple[dict[str, Any] | str, float]:
    """Run one worker; (its JSON result or an error line, simulator CPU during its sweep)."""
    worker = subprocess.Popen(
        [python, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    before = None
    for line in worker.stdout:
        if line.startswith("READY"):
            before = sim_cpu(simulators)
            worker.stdin.write("go\n")
            worker.stdin.flush()
            break
    out, err = worker.communicate(timeout=900)
    spent = sim_cpu(simulators) - before if before is not None else 0.0
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if worker.returncode != 0 or not lines:
        return (err.strip().splitlines() or ["no output"])[-1][:160], spent
    return json.loads(lines[-1]), spent


def sim_cpu(processes: list[subprocess.Popen[str]]) -> float:
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--pyasic-python", default="/tmp/pyasic-venv/bin/python")
    parser.add_argument("--clients", default="ours,poller,pyasic,sequential")
    parser.add_argument("--sim-procs", type=int, default=1, help="simulator processes")
    parser.add_argument(
        "--worker", choices=["ours", "poller", "sequential"], help=argparse.SUPPRESS
    )
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.count, args.concurrency)
        return 0

    from backend.sim.fleet import ensure_fd_limit

    sizes = [int(s) for s in args.sizes.split(",")]
    clients = args.clients.split(",")
    ensure_fd_limit(max(sizes) + 4096)
    pyasic_ok = Path(args.pyasic_python).exists()
    print(
        f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
        f"concurrency {args.concurrency}; simulator: {args.sim_procs} process(es), "
        f"{max(sizes)} miners"
    )
    if "pyasic" in clients and not pyasic_ok:
        print(f"pyasic: not available ({args.pyasic_python} missing): skipped")
    simulators = spawn_simulators(max(sizes), args.sim_procs)
    rows: list[tuple[int, str, dict[str, Any] | str, float]] = []
    try:
        for size in sizes:
            for client in clients:
                if client == "pyasic":
                    if not pyasic_ok:
                        continue
                    with tempfile.NamedTemporaryFile("w", suffix=".json") as targets:
                        json.dump(hosts(size), targets)
                        targets.flush()
                        worker = ["-c", PYASIC_WORKER, targets.name, str(args.concurrency)]
                        result, spent = measure(worker, simulators, python=args.pyasic_python)
                else:
                    worker = [__file__, "--worker", client, "--count", str(size)]
                    worker += ["--concurrency", str(args.concurrency)]
                    result, spent = measure(worker, simulators)
                rows.append((size, client, result, spent))
                report(rows[-1])
    finally:
        for simulator in simulators:
            simulator.terminate()
        for simulator in simulators:
            simulator.wait(10)
    ratios(rows)
    return 0


def report(row: tuple[int, str, dict[str, Any] | str, float]) -> None:
    size, client, result, simulator_cpu = row
    if isinstance(result, str):
        print(f"{size:>6} {client:<11} FAILED: {result}")
        return
    note = ""
    if result.get("extrapolated_from"):
        note = f"  (extrapolated from {result['extrapolated_from']})"
        simulator_cpu *= size / result["extrapolated_from"]
    cold = f"  cold sweep {result['cold_wall']:.2f}s" if "cold_wall" in result else ""
    print(
        f"{size:>6} {client:<11} {result['ok']:>6} online  {size / result['wall']:>8.0f} miners/s"
        f"  wall {result['wall']:>7.2f}s  client CPU {result['cpu']:>6.2f}s  peak RSS "
        f"{result['rss_mb']:>6.1f} MB  (simulator CPU {simulator_cpu:.1f}s){cold}{note}",
        flush=True,
    )


def ratios(rows: list[tuple[int, str, dict[str, Any] | str, float]]) -> None:
    table = {(size, client): r for size, client, r, _ in rows if isinstance(r, dict)}
    print("\nours vs ... (throughput by wall time; client CPU seconds per sweep):")
    for size in sorted({size for size, *_ in rows}):
        ours = table.get((size, "ours"))
        if ours is None:
            continue
        for other in ("pyasic", "sequential"):
            theirs = table.get((size, other))
            if theirs is not None:
                print(
                    f"{size:>6}  ours / {other:<10} = {theirs['wall'] / ours['wall']:6.2f}x wall"
                    f"  {theirs['cpu'] / ours['cpu']:6.2f}x CPU"
                )


if __name__ == "__main__":
    sys.exit(main())
