"""Fleet sweep benchmark: 1,000 / 5,000 / 10,000 simulated miners, simulator in its own process.

    python bench/fleet.py                      # all sizes, all clients
    python bench/fleet.py --sizes 1000 --pyasic-python /tmp/pyasic-venv/bin/python

For each size, each client runs in a fresh process (so CPU seconds and peak RSS are its own)
and sweeps the same simulated fleet once with ``summary+stats+pools`` per miner:

- wire:        the exchange alone (connect, send, read the reply's bytes, close), nothing
               decoded: the floor every client of this one-request-per-connection protocol pays
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

For the poller the bench prints where its CPU went, warm and cold (transport, decode,
normalise, digest, write, events; see ``CpuSplit``), and at the end its figures against the
goals (warm sweep < 3 s, cold < 4 s, peak RSS < 250 MB, 5x pyasic's client CPU per miner
answered) and against the baseline it names (``BASELINE``). ``--repeat N`` runs every client
N times per size and reports min / median / max. Past 20,000 miners one simulator process
runs out of descriptors (a listening socket per miner): use ``--sim-procs 3`` for 50,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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


async def sweep_clients(
    count: int, concurrency: int, answered: Callable[[Any], Awaitable[bool]]
) -> dict[str, Any]:
    """One sweep of ``count`` miners, ``concurrency`` at a time: ``answered(client)`` says
    whether that miner answered."""
    from backend.fleet.client import CgminerClient

    queue = iter([CgminerClient(h, 4028) for h in hosts(count)])
    ok = 0
    ready()

    async def work() -> None:
        nonlocal ok
        for client in queue:
            if await answered(client):
                ok += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(work() for _ in range(min(concurrency, count))))
    return {"ok": ok, "wall": time.perf_counter() - t0, "cpu": time.process_time() - cpu0}


async def worker_ours(count: int, concurrency: int) -> dict[str, Any]:
    from backend.fleet.client import snapshot_for_error
    from backend.fleet.codec import CgminerError
    from backend.fleet.shape_reader import read_snapshot as normalize

    async def online(client: Any) -> bool:
        try:
            snap = normalize(await client.multi(COMMANDS))
        except CgminerError as exc:
            snap = snapshot_for_error(exc)
        return snap.status == "online"

    return await sweep_clients(count, concurrency, online)


async def worker_wire(count: int, concurrency: int) -> dict[str, Any]:
    from backend.fleet.codec import CgminerError, encode_request, join_commands

    payload = encode_request(join_commands(list(COMMANDS)), None)

    async def replied(client: Any) -> bool:
        try:
            return bool(await client.request_raw(payload))
        except CgminerError:
            return False

    return await sweep_clients(count, concurrency, replied)


async def worker_poller(count: int, concurrency: int) -> dict[str, Any]:
    from backend.core.bus import EventBus
    from backend.core.clock import SYSTEM_CLOCK
    from backend.core.db import Database
    from backend.fleet.alerts import AlertBook, RuleSet
    from backend.fleet.inventory import MinerSpec
    from backend.fleet.poller import Poller, tune_gc
    from backend.fleet.store import FleetStore
    from backend.settings import load_settings

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
        tune_gc()  # as the fleet service does before its first sweep
        split = CpuSplit(poller)
        cold_t0, cold_cpu0 = time.perf_counter(), time.process_time()
        await poller.sweep()  # cold: learns each miner's firmware family
        cold, cold_cpu = time.perf_counter() - cold_t0, time.process_time() - cold_cpu0
        cold_split = split.report(cold_cpu)
        cold_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ready()
        split.reset()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = time.process_time(), time.perf_counter()
        summary = await poller.sweep()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        result = {
            "ok": summary["online"],
            "wall": wall,
            "cpu": cpu,
            "kernel_cpu": usage1.ru_stime - usage0.ru_stime,
            "cold_wall": cold,
            "cold_cpu": cold_cpu,
            "split": split.report(cpu),
            "cold_split": cold_split,
            "cold_rss_mb": cold_rss,
        }
        await db.close()
    return result


class CpuSplit:
    """CPU seconds of the measured sweep by stage, from timers wrapped around the poller's steps.

    transport: polling minus decoding and normalising (sockets, kernel, event loop, tasks);
    decode: bytes to dicts (codec, joined split); normalise: dicts to snapshots; digest: alerts,
    economics, change detection, rows; write: the one DB transaction; events: summary, publish.
    """

    def __init__(self, poller: Any) -> None:
        import backend.fleet.client as client_module
        import backend.fleet.poller as poller_module

        self.spent: dict[str, float] = {}
        self._wrap(client_module, "decode_reply", "decode")
        self._wrap(client_module, "joined_parts", "decode")
        self._wrap(poller_module, "read_snapshot", "normalise")
        self._wrap(poller, "_digest", "digest")
        polls, write = poller._poll_all, poller.store.write_sweep

        async def timed_polls(*args: Any) -> Any:
            started = time.process_time()
            try:
                return await polls(*args)
            finally:
                self._add("polling", time.process_time() - started)

        async def timed_write(*args: Any) -> Any:
            started = time.process_time()  # nothing else runs meanwhile: the polls are done
            try:
                return await write(*args)
            finally:
                self._add("write", time.process_time() - started)

        poller._poll_all, poller.store.write_sweep = timed_polls, timed_write
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Collections run inside whichever stage allocated: their time, shown apart."""
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self._add(f"gc{info['generation']}", time.thread_time() - self._gc_started)

    def _add(self, stage: str, seconds: float) -> None:
        self.spent[stage] = self.spent.get(stage, 0.0) + seconds

    def _wrap(self, owner: Any, name: str, stage: str) -> None:
        inner = getattr(owner, name)
        clock = time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                self._add(stage, clock() - started)

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.spent.clear()

    def report(self, total: float) -> dict[str, float]:
        spent = self.spent
        decode, normalise = spent.get("decode", 0.0), spent.get("normalise", 0.0)
        stages = {
            "transport": spent.get("polling", 0.0) - decode - normalise,
            "decode": decode,
            "normalise": normalise,
            "digest": spent.get("digest", 0.0),
            "write": spent.get("write", 0.0),
        }
        stages["events"] = total - sum(stages.values())
        stages["of which GC"] = sum(spent.get(f"gc{n}", 0.0) for n in range(3))
        stages["full GCs"] = spent.get("gc2", 0.0)
        return stages


def worker_sequential(count: int) -> dict[str, Any]:
    import socket

    from backend.fleet.codec import decode_reply, split_joined
    from backend.fleet.shape_reader import read_snapshot as normalize

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
        runner = {"ours": worker_ours, "wire": worker_wire}.get(kind, worker_poller)
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
    global BASE_IP
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--pyasic-python", default="/tmp/pyasic-venv/bin/python")
    parser.add_argument("--clients", default="ours,poller,pyasic,sequential")
    parser.add_argument("--sim-procs", type=int, default=1, help="simulator processes")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each client per size")
    parser.add_argument(
        "--base-ip",
        default=BASE_IP,
        help="first simulated miner's address (another bench may hold the default)",
    )
    parser.add_argument(
        "--worker", choices=["wire", "ours", "poller", "sequential"], help=argparse.SUPPRESS
    )
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    BASE_IP = args.base_ip
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
        for size, _run, client in (
            (size, run, client)
            for size in sizes
            for run in range(max(1, args.repeat))
            for client in clients
        ):
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
                worker += ["--concurrency", str(args.concurrency), "--base-ip", BASE_IP]
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
    cold = ""
    if "cold_wall" in result:
        cold = (
            f"  cold sweep {result['cold_wall']:.2f}s ({result['cold_cpu']:.2f} CPU-s, "
            f"peak RSS by then {result['cold_rss_mb']:.0f} MB)"
        )
    print(
        f"{size:>6} {client:<11} {result['ok']:>6} online  {size / result['wall']:>8.0f} miners/s"
        f"  wall {result['wall']:>7.2f}s  client CPU {result['cpu']:>6.2f}s "
        f"({per_miner_ms(result):.3f} ms/miner answered)  peak RSS {result['rss_mb']:>6.1f} MB"
        f"  (simulator CPU {simulator_cpu:.1f}s, load {os.getloadavg()[0]:.1f}){cold}{note}",
        flush=True,
    )
    split = result.get("split")
    if split:
        parts = "  ".join(f"{stage} {seconds:.2f}" for stage, seconds in split.items())
        print(
            f"{'':>18}CPU split (s): {parts}  [kernel {result['kernel_cpu']:.2f} of the total]",
            flush=True,
        )
        parts = "  ".join(
            f"{stage} {seconds:.2f}" for stage, seconds in result["cold_split"].items()
        )
        print(f"{'':>18}cold sweep CPU split (s): {parts}", flush=True)


def per_miner_ms(result: dict[str, Any]) -> float:
    """Client CPU per miner that answered (pyasic's multicommand fails on Whatsminer)."""
    return result["cpu"] * 1000 / max(result["ok"], 1)


# The production poller before this round (2026-11-24 code, same bench, 10,000 miners).
BASELINE = {"warm_wall": 4.61, "cold_wall": 6.55, "rss_mb": 185.0, "ms_per_miner": 0.46}
BASELINE_PYASIC_MS = 1.28
GOAL_WARM_S, GOAL_COLD_S, GOAL_RSS_MB, GOAL_VS_PYASIC = 3.0, 4.0, 250.0, 5.0


def ratios(rows: list[tuple[int, str, dict[str, Any] | str, float]]) -> None:
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for size, client, result, _ in rows:
        if isinstance(result, dict):
            runs.setdefault((size, client), []).append(result)
    print("\nours vs ... (throughput by wall time; client CPU seconds per sweep):")
    for size in sorted({size for size, *_ in rows}):
        ours = runs.get((size, "ours"))
        for other in ("pyasic", "sequential"):
            theirs = runs.get((size, other))
            if ours and theirs:
                wall = [t["wall"] / o["wall"] for o, t in zip(ours, theirs, strict=False)]
                cpu = [t["cpu"] / o["cpu"] for o, t in zip(ours, theirs, strict=False)]
                print(
                    f"{size:>6}  ours / {other:<10} = {spread(wall, 'x')} wall"
                    f"  {spread(cpu, 'x')} CPU"
                )
    print("\npoller against the goals (min / median / max over runs):")
    for size in sorted({size for size, *_ in rows}):
        poller = runs.get((size, "poller"))
        if not poller:
            continue
        warm = [r["wall"] for r in poller]
        cold = [r["cold_wall"] for r in poller]
        rss = [r["rss_mb"] for r in poller]
        ms = [per_miner_ms(r) for r in poller]
        print(f"{size:>6}  warm sweep {spread(warm, 's')} wall  (goal {GOAL_WARM_S:.0f} s)", end="")
        print(f"  cold sweep {spread(cold, 's')}  (goal {GOAL_COLD_S:.0f} s)")
        print(f"{'':>8}peak RSS {spread(rss, ' MB')}  (goal < {GOAL_RSS_MB:.0f} MB)")
        print(f"{'':>8}client CPU per miner answered {spread(ms, ' ms')}")
        pyasic = runs.get((size, "pyasic"))
        if pyasic:
            vs = [per_miner_ms(p) / per_miner_ms(r) for r, p in zip(poller, pyasic, strict=False)]
            print(
                f"{'':>8}pyasic's CPU per miner answered / the poller's = {spread(vs, 'x')}"
                f"  (goal {GOAL_VS_PYASIC:.0f}x; pyasic "
                f"{spread([per_miner_ms(p) for p in pyasic], ' ms')})"
            )
        wire = runs.get((size, "wire"))
        if wire and pyasic:
            floor = median([per_miner_ms(w) for w in wire])
            budget = median([per_miner_ms(p) for p in pyasic]) / GOAL_VS_PYASIC
            print(
                f"{'':>8}the wire alone {floor:.3f} ms a miner: the {GOAL_VS_PYASIC:.0f}x goal "
                f"({budget:.3f} ms) leaves {budget - floor:.3f} ms for decoding, normalising, "
                f"the digest and the write (the poller spends {median(ms) - floor:.3f})"
            )
        if size == 10_000:
            base = BASELINE
            print(
                f"{'':>8}baseline -> now (medians; baseline / now): warm sweep "
                f"{base['warm_wall']} -> {median(warm):.2f} s "
                f"({base['warm_wall'] / median(warm):.2f}x), cold sweep {base['cold_wall']} -> "
                f"{median(cold):.2f} s ({base['cold_wall'] / median(cold):.2f}x), CPU per miner "
                f"{base['ms_per_miner']} -> {median(ms):.3f} ms "
                f"({base['ms_per_miner'] / median(ms):.2f}x), peak RSS {base['rss_mb']:.0f} -> "
                f"{median(rss):.0f} MB; the baseline's pyasic: {BASELINE_PYASIC_MS} ms"
            )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def spread(values: list[float], unit: str) -> str:
    """``1.23x`` for one run, ``1.10 / 1.23 / 1.40x`` (min / median / max) for several."""
    if len(values) == 1:
        return f"{values[0]:.2f}{unit}"
    return f"{min(values):.2f} / {median(values):.2f} / {max(values):.2f}{unit}"


if __name__ == "__main__":
    sys.exit(main())
