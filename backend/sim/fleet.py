"""Loopback TCP simulator of a mining fleet speaking the CGMiner RPC API.

Each simulated miner is a real asyncio TCP server replaying the wire formats of the
captured fixtures (``tests/data/captures/miners``): Antminer S19 Pro stock bmminer (with
its ``}{`` STATS, ``Tenperature`` and ``Pool Stale%%`` quirks, NUL-terminated),
Whatsminer btminer API v1.4 (sorted keys, bare-string STATUS with an object ``Msg`` for
``get_*``, no joins of ``get_*``/``status``), upstream cgminer 4.11.1 (with ``devdetails``), a
Braiins OS (BOSer) flavour with ``fans``/``temps``/``tempctrl``/``devdetails``/``tunerstatus``
shaped after Braiins' published cgminer-API structures, and LuxOS on an Antminer (family
``luxos``: session-guarded writes, ``backend/sim/luxos.py``). One miner is
``backend.sim.miner``: its state (``physics``), faults, pools, one RPC dialect class per
firmware (``dialects``) and its server (``SimMiner``); this module is the fleet of them.

Control dialects live in their own modules: with ``web_port`` set, each stock Antminer also
serves its web CGI with digest auth on its own address (``backend/sim/antminer_web.py``);
Whatsminers take their encrypted admin API v2 on the RPC port and, with ``whatsminer_v3_port``
set, serve API v3 on their own address (``backend/sim/whatsminer_api.py``); Braiins OS miners,
with ``braiins_grpc_port`` set, serve BOSer's gRPC API (``backend/sim/braiins_grpc.py``).

Addressing: by default every miner listens on its own loopback address at port 4028
(127.0.1.1, 127.0.1.2, ...). Linux routes all of 127.0.0.0/8 to ``lo`` so this needs
no setup (checked on the dev machines); elsewhere use ``use_ports=True``: one address
(127.0.0.1) and a distinct port per miner, which is also the fast choice for tests.

File descriptors: one listening socket per miner plus one per open connection. A
fleet of N miners polled with concurrency C from the same process needs about
N + 2*C + 100 descriptors; the dev/CI machines allow 20000 (``ulimit -n``). ``main()``
raises the soft limit towards the hard limit when needed and warns otherwise.

State is computed lazily at each request from a simulated clock (``speed`` scales
it), so thousands of idle miners cost no CPU. Faults (``Fault``) are injected per
miner; privileged commands change state like the real firmware would.

Run standalone: ``python -m backend.sim.fleet --count 200`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import random
import resource
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from backend.sim.miner.access import parse_api_allow
from backend.sim.miner.dialects.base import PRIVILEGED_COMMANDS
from backend.sim.miner.dialects.whatsminer import WHATSMINER_DESC, WHATSMINER_FW
from backend.sim.miner.faults import Fault
from backend.sim.miner.physics import SHARE_DIFF
from backend.sim.miner.pools import SimPool
from backend.sim.miner.profiles import DIALECTS, FAMILIES, PROFILES, ModelProfile
from backend.sim.miner.server import SimMiner

__all__ = [
    "API_PORT",
    "DEFAULT_MIX",
    "DIALECTS",
    "FAMILIES",
    "PRIVILEGED_COMMANDS",
    "PROFILES",
    "SHARE_DIFF",
    "WHATSMINER_DESC",
    "WHATSMINER_FW",
    "Fault",
    "FleetSimulator",
    "ModelProfile",
    "SimMiner",
    "SimPool",
    "ensure_fd_limit",
    "iter_loopback_addresses",
    "main",
    "parse_api_allow",
]

API_PORT = 4028
DEFAULT_MIX: dict[str, float] = {
    "antminer": 0.5,
    "whatsminer": 0.25,
    "braiins": 0.15,
    "cgminer": 0.1,
}


# --------------------------------------------------------------------------- addressing


def iter_loopback_addresses(base_ip: str, count: int) -> Iterator[str]:
    """127.0.1.1, 127.0.1.2, ... skipping .0 and .255 last octets; stays inside 127/8."""
    net = ipaddress.IPv4Network("127.0.0.0/8")
    addr = ipaddress.IPv4Address(base_ip)
    produced = 0
    while produced < count:
        if addr not in net:
            raise ValueError(f"{count} addresses from {base_ip} leave 127.0.0.0/8")
        if int(addr) & 0xFF not in (0, 255):
            yield str(addr)
            produced += 1
        addr += 1


# --------------------------------------------------------------------------- the fleet


class FleetSimulator:
    """A fleet of simulated miners; use as ``async with FleetSimulator(50) as sim:``."""

    def __init__(
        self,
        count: int,
        base_ip: str = "127.0.1.1",
        port: int = API_PORT,
        *,
        use_ports: bool = False,
        base_port: int = 0,
        families: Sequence[str] | None = None,
        mix: Mapping[str, float] | None = None,
        seed: int = 1,
        speed: float = 1.0,
        restart_downtime_s: float = 5.0,
        api_allow: str = "W:0/0",
        read_only: Sequence[int] = (),
        read_only_fraction: float = 0.0,
        shard: tuple[int, int] = (0, 1),
        web_port: int | None = None,
        whatsminer_v3_port: int | None = None,
        braiins_grpc_port: int | None = None,
    ) -> None:
        """``use_ports``: all miners on 127.0.0.1, port ``base_port + i`` (0 = ephemeral).

        ``web_port``: stock Antminers also serve their web CGI on their own address at this
        port (0 = an ephemeral port each; None = no web servers, the default for big fleets).
        ``whatsminer_v3_port``: the same for the Whatsminers' API v3 (real miners: 4433).
        ``braiins_grpc_port``: the same for Braiins OS's gRPC API (real miners: 50051).

        ``shard=(k, n)`` serves only the miners whose index is k modulo n (the others are
        drawn all the same, so n processes with k = 0..n-1 serve exactly the fleet one
        process would; interleaved, so a sweep in address order loads them evenly).

        ``families`` (cycled) fixes each miner's firmware; otherwise ``mix`` weights are
        drawn with ``seed``. ``read_only`` indices (and a ``read_only_fraction`` of the
        rest) answer privileged commands with code 45, like ``--api-allow R:0/0``.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        self.count = count
        self.use_ports = use_ports
        self.speed = speed
        self.restart_downtime_s = restart_downtime_s
        self.web_port = web_port
        self.whatsminer_v3_port = whatsminer_v3_port
        self.braiins_grpc_port = braiins_grpc_port
        self.miners: list[SimMiner] = []
        self._t0 = time.monotonic()
        self._started = False
        rng = random.Random(seed)
        weights = dict(mix or DEFAULT_MIX)
        for name in weights:
            if name not in PROFILES:
                raise ValueError(f"unknown family {name!r} in mix; choose from {DIALECTS}")
        if use_ports:
            hosts = ["127.0.0.1"] * count
            ports = [base_port + i if base_port else 0 for i in range(count)]
        else:
            hosts = list(iter_loopback_addresses(base_ip, count))
            ports = [port] * count
        read_only_set = set(read_only)
        mine, shards = shard
        if not 0 <= mine < shards:
            raise ValueError(f"shard {mine}/{shards}: need 0 <= k < n")
        for i in range(count):
            if families:
                family = families[i % len(families)]
            else:
                family = rng.choices(list(weights), weights=list(weights.values()))[0]
            ro = i in read_only_set or rng.random() < read_only_fraction
            allow = "R:0/0" if ro else api_allow
            if i % shards != mine:
                continue
            self.miners.append(
                SimMiner(self, i, family, hosts[i], ports[i], api_allow=allow, seed=seed)
            )

    def now(self) -> float:
        """Simulated seconds since the fleet was created (``speed`` x wall time)."""
        return (time.monotonic() - self._t0) * self.speed

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [m.address for m in self.miners]

    def miner_at(self, host: str, port: int = API_PORT) -> SimMiner:
        for miner in self.miners:
            if miner.address == (host, port):
                return miner
        raise KeyError(f"no simulated miner at {host}:{port}")

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            for chunk in range(0, len(self.miners), 256):
                await asyncio.gather(*(m.start() for m in self.miners[chunk : chunk + 256]))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(m.stop() for m in self.miners), return_exceptions=True)
        self._started = False

    def describe(self) -> list[str]:
        """One line per miner served (the demo world's ``Simulator`` protocol)."""
        return [
            f"miner {m.host}:{m.port}  {m.dialect:<10} {m.model or 'cgminer (no model)'}"
            + (f"  web :{m.web_port}" if m.web_port is not None else "")
            + (f"  api v3 :{m.v3_port}" if m.v3_port is not None else "")
            + (f"  grpc :{m.grpc_port}" if m.grpc_port is not None else "")
            for m in self.miners
        ]

    def settings_overrides(self) -> dict[str, Any]:
        """Settings pointing the product at this fleet (``Simulator`` protocol)."""
        entries: list[Any] = []
        for miner in self.miners:
            address = f"{miner.host}:{miner.port}"
            ports = {"web_port": miner.web_port, "grpc_port": miner.grpc_port}
            ports = {k: v for k, v in ports.items() if v is not None}
            entries.append({"address": address, **ports} if ports else address)
        return {"miners": entries}

    async def __aenter__(self) -> FleetSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --------------------------------------------------------------------------- CLI


def ensure_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``needed``; returns the resulting limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight or 1)
    return mix


def _parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N)."""
    mine, _, shards = text.partition("/")
    return int(mine), int(shards or 1)


def _parse_fault(text: str) -> tuple[int, Fault, dict[str, Any]]:
    """``INDEX:KIND[:key=value,...]``, e.g. ``3:slow:delay_s=2`` or ``7:dead_pool:pool=all``."""
    index, _, rest = text.partition(":")
    kind, _, params_text = rest.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, params_text.split(",")):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return int(index), Fault(kind), params


async def _run(args: argparse.Namespace) -> None:
    sim = FleetSimulator(
        args.count,
        args.base_ip,
        args.port,
        use_ports=args.ports,
        base_port=args.base_port,
        mix=_parse_mix(args.mix) if args.mix else None,
        seed=args.seed,
        speed=args.speed,
        restart_downtime_s=args.restart_downtime,
        read_only_fraction=args.read_only_fraction,
        shard=_parse_shard(args.shard),
        web_port=args.web_port,
        whatsminer_v3_port=args.whatsminer_v3_port,
        braiins_grpc_port=args.braiins_grpc_port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        by_index = {m.index: m for m in sim.miners}
        for spec in args.fault:
            index, kind, params = _parse_fault(spec)
            if index in by_index:  # another shard's miner otherwise
                await by_index[index].set_fault(kind, **params)
        counts: dict[str, int] = {}
        for miner in sim.miners:
            counts[miner.dialect] = counts.get(miner.dialect, 0) + 1
        if sim.miners:
            first, last = sim.miners[0], sim.miners[-1]
            span = f"{first.host}:{first.port} .. {last.host}:{last.port}"
        else:
            span = "(none)"
        mix_text = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        print(f"simulating {len(sim.miners)} miners on {span} [{mix_text}]", flush=True)
        if args.list:
            print("\n".join(sim.describe()))
        try:
            if args.duration > 0:
                await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
        except TimeoutError:
            pass
    print("simulator stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.sim.fleet",
        description="Simulated fleet of CGMiner-API miners on loopback.",
    )
    parser.add_argument("--count", type=int, default=10, help="number of miners")
    parser.add_argument("--base-ip", default="127.0.1.1", help="first loopback address")
    parser.add_argument("--port", type=int, default=API_PORT, help="API port per address")
    parser.add_argument(
        "--ports", action="store_true", help="all on 127.0.0.1 with one port per miner"
    )
    parser.add_argument("--base-port", type=int, default=14028, help="first port with --ports")
    parser.add_argument("--mix", help="family weights, e.g. antminer=5,whatsminer=2,braiins=1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated clock speed-up")
    parser.add_argument("--restart-downtime", type=float, default=5.0, help="seconds offline")
    parser.add_argument("--read-only-fraction", type=float, default=0.0)
    parser.add_argument(
        "--fault", action="append", default=[], help="INDEX:KIND[:k=v,...] (repeatable)"
    )
    parser.add_argument(
        "--shard", default="0/1", help="K/N: serve miners with index K modulo N (N processes)"
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=None,
        help="stock Antminers also serve their web CGI on this port (0 = any free port)",
    )
    parser.add_argument(
        "--whatsminer-v3-port",
        type=int,
        default=None,
        help="Whatsminers also serve API v3 on this port (real: 4433; 0 = any free port)",
    )
    parser.add_argument(
        "--braiins-grpc-port",
        type=int,
        default=None,
        help="Braiins OS miners also serve their gRPC API on this port (real: 50051)",
    )
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (0 = until ^C)")
    parser.add_argument("--list", action="store_true", help="print every miner's address")
    args = parser.parse_args(argv)
    needed = args.count + 1024
    limit = ensure_fd_limit(needed)
    if limit < needed:
        print(
            f"warning: open-file limit {limit} < {needed} wanted; raise `ulimit -n`",
            file=sys.stderr,
        )
    try:
        asyncio.run(_run(args))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
