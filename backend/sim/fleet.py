"""Loopback TCP simulator of a mining fleet speaking the CGMiner RPC API.

Each simulated miner is a real asyncio TCP server replaying the wire formats of the
captured fixtures (``tests/data/captures/miners``): Antminer S19 Pro stock bmminer (with
its ``}{`` STATS, ``Tenperature`` and ``Pool Stale%%`` quirks, NUL-terminated),
Whatsminer btminer API v1.4 (sorted keys, bare-string STATUS with an object ``Msg`` for
``get_*``, no joins of ``get_*``/``status``), upstream cgminer 4.11.1 (with ``devdetails``), a
Braiins OS (BOSer) flavour with ``fans``/``temps``/``tempctrl``/``devdetails``/``tunerstatus``
shaped after Braiins' published cgminer-API structures, and LuxOS on an Antminer (family
``luxos``: session-guarded writes, ``backend/sim/luxos.py``).

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
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache, partial
from typing import Any

from backend.sim import braiins_grpc, luxos, whatsminer_api
from backend.sim.antminer_web import AntminerWebServer
from backend.sim.fleet_wire import Connection, Listener
from backend.sim.vnish_web import VnishWebServer

API_PORT = 4028
FAMILIES = ("antminer", "whatsminer", "braiins", "cgminer")
DIALECTS = (*FAMILIES, "luxos", "vnish")  # Antminer family miners with their own control
DEFAULT_MIX: dict[str, float] = {
    "antminer": 0.5,
    "whatsminer": 0.25,
    "braiins": 0.15,
    "cgminer": 0.1,
}
SHARE_DIFF = 524288  # "524K" as the Antminer fixture shows
PRIVILEGED_COMMANDS = frozenset(
    {
        "restart",
        "switchpool",
        "enablepool",
        "disablepool",
        "removepool",
        "addpool",
        "ascset",
        "privileged",
    }
)
WHATSMINER_DESC = "whatsminer v1.4.0"
WHATSMINER_FW = "20210322.22.REL"


class Fault(StrEnum):
    """Per-miner failure modes the console must survive."""

    OFFLINE = "offline"  # not listening: connection refused
    SLOW = "slow"  # answers after delay_s (default 1.0)
    HANG = "hang"  # accepts, reads the request, never answers
    GARBAGE = "garbage"  # random bytes instead of a reply
    TRUNCATED = "truncated"  # first `fraction` (default 0.5) of the reply, then close
    RESET = "reset"  # abortive close (RST) right after the request
    OVERHEAT = "overheat"  # temps + delta_c (default 25), fans flat out
    BOARD_FAILURE = "board_failure"  # board `board` (default last) has `failed_chips` 'x'
    HASHRATE_DROP = "hashrate_drop"  # hashrate * factor (default 0.5)
    DEAD_POOL = "dead_pool"  # pool `pool` (default: the active one, or "all") is Dead


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """Static characteristics of a simulated model."""

    family: str
    model: str | None  # what the firmware reports (upstream cgminer reports none)
    boards: int
    chips_per_board: int
    nominal_ths: float
    power_w: float
    fans: int
    fan_rpm: int
    board_c: float
    chip_c: float
    frequency: int


PROFILES: dict[str, ModelProfile] = {
    "antminer": ModelProfile(
        "antminer", "Antminer S19 Pro", 3, 114, 110.0, 3250, 4, 5600, 64, 70, 525
    ),
    "whatsminer": ModelProfile("whatsminer", "M31SV10", 3, 105, 68.8, 3420, 2, 6450, 70, 84, 650),
    "braiins": ModelProfile(
        "braiins", "Antminer S19j Pro", 3, 126, 100.0, 3050, 4, 4200, 60, 68, 500
    ),
    "cgminer": ModelProfile("cgminer", None, 3, 63, 13.5, 1320, 2, 4800, 62, 75, 650),
    # LuxOS runs on Antminer hardware and reports like bmminer: family antminer, own writes.
    "luxos": ModelProfile(
        "antminer", "Antminer S19j Pro", 3, 126, 104.0, 3068, 4, 4300, 60, 68, 500
    ),
    # Vnish: bmminer's RPC naming the firmware in Type; control through its web API.
    "vnish": ModelProfile(
        "antminer", "Antminer S19j Pro (Vnish 1.2.6)", 3, 126, 100.0, 3050, 4, 4400, 60, 68, 500
    ),
}

DESCRIPTIONS = {
    "antminer": "cgminer 1.0.0",
    "whatsminer": "cgminer 4.9.2",
    "braiins": "BOSer boser-buildroot 0.1.0-0ce150e9",
    "cgminer": "cgminer 4.11.1",
}


@dataclass(slots=True)
class SimPool:
    url: str
    user: str
    password: str = "x"
    priority: int = 0
    enabled: bool = True
    dead: bool = False
    accepted: float = 0.0
    rejected: float = 0.0
    stale: float = 0.0
    last_share: float | None = None  # simulated clock


# --------------------------------------------------------------------------- access control


def parse_api_allow(spec: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """cgminer ``--api-allow`` ("W:127.0.0.1,10.0.0/24,R:0/0"): first match wins,
    ``W:`` is privileged, anything else read-only; short addresses are padded with .0."""
    rules: list[tuple[str, ipaddress.IPv4Network]] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        group = "R"
        if len(entry) > 2 and entry[1] == ":" and entry[0].isalpha():
            group, entry = entry[0].upper(), entry[2:]
        if entry == "0/0":
            rules.append((group, ipaddress.IPv4Network("0.0.0.0/0")))
            continue
        addr, _, prefix = entry.partition("/")
        octets = addr.split(".")
        octets += ["0"] * (4 - len(octets))
        rules.append(
            (group, ipaddress.IPv4Network(f"{'.'.join(octets)}/{prefix or 32}", strict=False))
        )
    return rules


_Rules = tuple[tuple[str, ipaddress.IPv4Network], ...]


@lru_cache(maxsize=64)
def _parsed_rules(spec: str) -> _Rules:
    """One parsed rule list per distinct ``--api-allow`` (10,000 miners share a handful)."""
    return tuple(parse_api_allow(spec))


@lru_cache(maxsize=1024)
def _access_group(rules: _Rules, client_ip: str) -> str | None:
    """Cached per (rules, client): every miner of a sweep sees the same poller address."""
    try:
        addr = ipaddress.IPv4Address(client_ip)
    except ValueError:
        return None
    for group, net in rules:
        if addr in net:
            return group
    return None


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


# --------------------------------------------------------------------------- one miner


class SimMiner:
    """One simulated miner: state, reply rendering and its TCP server."""

    def __init__(
        self,
        fleet: FleetSimulator,
        index: int,
        family: str,
        host: str,
        port: int,
        *,
        api_allow: str = "W:0/0",
        seed: int = 0,
    ) -> None:
        if family not in PROFILES:
            raise ValueError(f"unknown family {family!r}; choose from {DIALECTS}")
        self.fleet = fleet
        self.index = index
        self.profile = PROFILES[family]
        self.dialect = family  # how it is controlled: "luxos" is an Antminer with LuxOS
        self.family = self.profile.family
        self.host = host
        self.port = port
        self.api_allow = api_allow
        self.rng = random.Random(seed * 1_000_003 + index)
        self.faults: dict[Fault, dict[str, Any]] = {}
        self.sleeping = False
        self.restarting = False
        self.work_mode = 0  # stock Antminer: 0 normal, 1 sleep, 3 low power
        # the tuning in force (a LuxOS profile): hashrate and power relative to nominal
        self.hash_scale = 1.0
        self.power_scale = 1.0
        self.freq_mhz = self.profile.frequency
        self.blinking = False
        self.web: AntminerWebServer | VnishWebServer | None = None
        self.lux = luxos.LuxosState() if family == "luxos" else None
        is_wm = self.family == "whatsminer"
        self.wm = whatsminer_api.WhatsminerState() if is_wm else None
        self.wm_v3: whatsminer_api.WhatsminerV3Server | None = None
        is_bos = self.family == "braiins"
        self.bos = braiins_grpc.BosState(self.profile.power_w) if is_bos else None
        self.bos_grpc: braiins_grpc.BraiinsGrpcServer | None = None
        self.requests: deque[str] = deque(maxlen=64)
        self._memo: dict[str, Any] | None = None
        self._rules = _parsed_rules(api_allow)
        self._listener: Listener | None = None
        self._conns: set[Connection] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._temp_bias = [self.rng.uniform(-3, 3) for _ in range(self.profile.boards)]
        self._avg_bias = self.rng.uniform(0.995, 1.012)
        self._hw_errors = 0.0
        self._last_tick = fleet.now()
        self.boot_at = self._last_tick - self.rng.uniform(2 * 3600, 20 * 86400)
        self.pools = self._default_pools()
        self._seed_counters()
        self._report_table = self._reports()  # the family never changes

    # ------------------------------------------------------------------ identity

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def model(self) -> str | None:
        return self.profile.model

    @property
    def listening(self) -> bool:
        return self._listener is not None

    @property
    def open_connections(self) -> int:
        """Connections being served right now (a hung client shows up here)."""
        return len(self._conns)

    def __repr__(self) -> str:
        return f"SimMiner({self.index}, {self.family}, {self.host}:{self.port})"

    def _default_pools(self) -> list[SimPool]:
        worker = f"hashinsight.r{self.index // 40:02d}m{self.index % 40:02d}"
        urls = (
            "stratum+tcp://btc.sim-pool.example:3333",
            "stratum+tcp://btc-backup.sim-pool.example:443",
            "stratum+tcp://btc.sim-failover.example:700",
        )
        return [SimPool(url=u, user=worker, priority=p) for p, u in enumerate(urls)]

    def _seed_counters(self) -> None:
        pool = self.active_pool()
        uptime = self.uptime_s()
        if pool is not None:
            pool.accepted = self.share_rate() * uptime
            pool.rejected = pool.accepted * 0.0027
            pool.stale = pool.accepted * 0.0003
            pool.last_share = self.fleet.now() - self.rng.uniform(1, 30)
        self._hw_errors = uptime * 0.011

    # ------------------------------------------------------------------ state model

    def uptime_s(self) -> float:
        return max(0.0, self.fleet.now() - self.boot_at)

    def active_pool(self) -> SimPool | None:
        memo = self._memo
        if memo is not None and "pool" in memo:
            return memo["pool"]
        usable = [p for p in self.pools if p.enabled and not p.dead]
        pool = min(usable, key=lambda p: p.priority) if usable else None
        if memo is not None:
            memo["pool"] = pool
        return pool

    def _board_health(self, board: int) -> float:
        failure = self.faults.get(Fault.BOARD_FAILURE)
        if failure is None or failure["board"] != board:
            return 1.0
        return max(0.0, 1.0 - failure["failed_chips"] / self.profile.chips_per_board)

    def _load(self) -> float:
        """1.0 when hashing normally; 0 when asleep or without a live pool."""
        memo = self._memo
        if memo is not None and "load" in memo:
            return memo["load"]
        if self.sleeping or self.active_pool() is None:
            load = 0.0
        else:
            drop = self.faults.get(Fault.HASHRATE_DROP)
            load = drop["factor"] if drop else 1.0
        if memo is not None:
            memo["load"] = load
        return load

    def board_ths(self, board: int, *, jitter: bool = True) -> float:
        base = self.profile.nominal_ths * self.hash_scale / self.profile.boards
        noise = self.rng.uniform(-0.035, 0.035) if jitter else 0.0
        return base * (1 + noise) * self._board_health(board) * self._load()

    def current_ths(self) -> float:
        return sum(self.board_ths(b) for b in range(self.profile.boards))

    def avg_ths(self) -> float:
        memo = self._memo
        if memo is not None and "avg" in memo:
            return memo["avg"]
        steady = sum(self.board_ths(b, jitter=False) for b in range(self.profile.boards))
        avg = steady * self._avg_bias
        if memo is not None:
            memo["avg"] = avg
        return avg

    def share_rate(self) -> float:
        """Accepted shares per simulated second at the current hashrate."""
        return self.avg_ths() * 1e12 / (SHARE_DIFF * 2**32)

    def tick(self) -> None:
        """Advance counters to the simulated now (called on every request)."""
        now = self.fleet.now()
        dt = max(0.0, now - self._last_tick)
        self._last_tick = now
        pool = self.active_pool()
        if pool is None or dt == 0:
            return
        shares = self.share_rate() * dt
        pool.accepted += shares
        pool.rejected += shares * 0.0027
        pool.stale += shares * 0.0003
        self._hw_errors += dt * 0.011 * self._load()
        if shares > 0:
            pool.last_share = now - self.rng.uniform(0, min(dt, 20.0))

    def board_temps(self, board: int) -> tuple[float, float]:
        """(board °C, chip °C) for one board."""
        p = self.profile
        heat = 1.0 if self._load() > 0 else 0.45
        board_c = 25 + (p.board_c - 25) * heat + self._temp_bias[board] + self.rng.uniform(-1, 1)
        chip_c = board_c + (p.chip_c - p.board_c) + self.rng.uniform(-1, 1)
        overheat = self.faults.get(Fault.OVERHEAT)
        if overheat:
            board_c += overheat["delta_c"]
            chip_c += overheat["delta_c"]
        return round(board_c, 1), round(chip_c, 1)

    @staticmethod
    def board_sensors(board_c: float, chip_c: float) -> tuple[list[int], list[int], list[int]]:
        """A board's four PCB, chip and PIC sensor readings (°C) as bmminer reports them."""
        pcb = [board_c - 18, board_c - 16, board_c - 1, board_c]
        chip = [int(t + chip_c - board_c) for t in pcb]
        return [int(t) for t in pcb], chip, [int(t - 10) for t in pcb]

    def fan_speeds(self) -> list[int]:
        p = self.profile
        if Fault.OVERHEAT in self.faults:
            return [int(p.fan_rpm * 1.3) + self.rng.randint(0, 120) for _ in range(p.fans)]
        scale = 1.0 if self._load() > 0 else 0.35
        return [int(p.fan_rpm * scale * self.rng.uniform(0.9, 1.07)) for _ in range(p.fans)]

    def power_w(self) -> float:
        load = self._load()
        if load == 0:
            return 95.0
        healthy = sum(self._board_health(b) for b in range(self.profile.boards))
        ratio = healthy / self.profile.boards
        watts = self.profile.power_w * self.power_scale
        return round(watts * (0.1 + 0.9 * ratio * load) * self.rng.uniform(0.99, 1.01))

    def chips_ok(self, board: int) -> int:
        failure = self.faults.get(Fault.BOARD_FAILURE)
        failed = failure["failed_chips"] if failure and failure["board"] == board else 0
        return self.profile.chips_per_board - failed

    def totals(self) -> tuple[int, int, int, int]:
        """(accepted, rejected, stale, hardware errors) since boot."""
        acc = sum(int(p.accepted) for p in self.pools)
        rej = sum(int(p.rejected) for p in self.pools)
        stale = sum(int(p.stale) for p in self.pools)
        return acc, rej, stale, int(self._hw_errors)

    # ------------------------------------------------------------------ faults

    async def set_fault(self, fault: Fault | str, **params: Any) -> None:
        """Switch a fault on (parameters as documented on ``Fault``)."""
        kind = Fault(fault)
        defaults: dict[Fault, dict[str, Any]] = {
            Fault.SLOW: {"delay_s": 1.0},
            Fault.TRUNCATED: {"fraction": 0.5},
            Fault.OVERHEAT: {"delta_c": 25.0},
            Fault.BOARD_FAILURE: {
                "board": self.profile.boards - 1,
                "failed_chips": self.profile.chips_per_board,
            },
            Fault.HASHRATE_DROP: {"factor": 0.5},
        }
        self.tick()
        self.faults[kind] = {**defaults.get(kind, {}), **params}
        if kind is Fault.DEAD_POOL:
            target = params.get("pool")
            active = self.active_pool()
            for i, pool in enumerate(self.pools):
                if target == "all" or (target is None and pool is active) or target == i:
                    pool.dead = True
        if kind is Fault.OFFLINE:
            await self._stop_listening()

    async def clear_fault(self, fault: Fault | str | None = None) -> None:
        """Switch one fault (or all) off."""
        kinds = [Fault(fault)] if fault is not None else list(self.faults)
        self.tick()
        for kind in kinds:
            self.faults.pop(kind, None)
            if kind is Fault.DEAD_POOL:
                for pool in self.pools:
                    pool.dead = False
            if kind is Fault.OFFLINE and not self.restarting:
                await self._listen()

    # ------------------------------------------------------------------ server

    async def start(self) -> None:
        if Fault.OFFLINE not in self.faults:
            await self._listen()
        web_port = self.fleet.web_port
        if web_port is not None and self.dialect == "antminer" and self.web is None:
            self.web = AntminerWebServer(self, self.host, web_port)
            await self.web.start()
        if web_port is not None and self.dialect == "vnish" and self.web is None:
            self.web = VnishWebServer(self, self.host, web_port)
            await self.web.start()
        v3_port = self.fleet.whatsminer_v3_port
        if v3_port is not None and self.wm is not None and self.wm_v3 is None:
            self.wm_v3 = whatsminer_api.WhatsminerV3Server(self, self.host, v3_port)
            await self.wm_v3.start()
        grpc_port = self.fleet.braiins_grpc_port
        if grpc_port is not None and self.bos is not None and self.bos_grpc is None:
            self.bos_grpc = braiins_grpc.BraiinsGrpcServer(self, self.host, grpc_port)
            await self.bos_grpc.start()

    @property
    def web_port(self) -> int | None:
        """The port of this miner's web CGI (stock Antminers when the fleet serves them)."""
        return self.web.port if self.web is not None else None

    @property
    def v3_port(self) -> int | None:
        """The port of this Whatsminer's API v3 (when the fleet serves it)."""
        return self.wm_v3.port if self.wm_v3 is not None else None

    @property
    def grpc_port(self) -> int | None:
        """The port of this Braiins OS miner's gRPC API (when the fleet serves it)."""
        return self.bos_grpc.port if self.bos_grpc is not None else None

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        web, self.web = self.web, None
        if web is not None:
            await web.stop()
        v3, self.wm_v3 = self.wm_v3, None
        if v3 is not None:
            await v3.stop()
        bos, self.bos_grpc = self.bos_grpc, None
        if bos is not None:
            await bos.stop()
        await self._stop_listening()
        for conn in list(self._conns):
            conn.close()
        if self._background:
            await asyncio.wait(self._background, timeout=1.0)

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        try:
            self._listener = Listener(self.host, self.port, self._accept)
        except OSError as exc:
            hint = "" if self.fleet.use_ports else " (loopback aliases need Linux; try use_ports)"
            raise RuntimeError(f"cannot listen on {self.host}:{self.port}: {exc}{hint}") from exc
        self.port = self._listener.port

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _restart(self) -> None:
        """Firmware restart: API gone for the downtime, then back with fresh counters."""
        self.restarting = True
        try:
            await self._stop_listening()
            await asyncio.sleep(self.fleet.restart_downtime_s)
            now = self.fleet.now()
            self.boot_at = self._last_tick = now
            self._hw_errors = 0.0
            self.sleeping = False
            for pool in self.pools:
                pool.accepted = pool.rejected = pool.stale = 0.0
                pool.last_share = None
        finally:
            self.restarting = False
        if Fault.OFFLINE not in self.faults:
            await self._listen()

    def access_group(self, client_ip: str) -> str | None:
        """'W' (privileged), another letter (read-only) or None (not allowed at all)."""
        return _access_group(self._rules, client_ip)

    def _accept(self, sock: socket.socket, peer_ip: str) -> None:
        group = self.access_group(peer_ip)
        if group is None:
            sock.close()  # cgminer silently closes connections from hosts outside --api-allow
            return
        on_request = partial(self._on_request, group == "W")
        Connection(self._loop(), sock, on_request, self._conns).start()

    def _loop(self) -> asyncio.AbstractEventLoop:
        listener = self._listener
        return listener.loop if listener is not None else asyncio.get_running_loop()

    def _on_request(self, privileged: bool, conn: Connection, data: bytes) -> None:
        if Fault.HANG in self.faults:
            conn.hold()
        elif Fault.SLOW in self.faults:
            delay = self.faults[Fault.SLOW]["delay_s"]
            conn.later(delay, partial(self._answer, privileged, conn, data))
        else:
            self._answer(privileged, conn, data)

    def _answer(self, privileged: bool, conn: Connection, data: bytes) -> None:
        if Fault.RESET in self.faults:
            conn.reset()
            return
        if Fault.GARBAGE in self.faults:
            conn.send_and_close(bytes(self.rng.randrange(256) for _ in range(200)))
            return
        reply, after = self.respond(data, privileged=privileged)
        if Fault.TRUNCATED in self.faults:
            reply = reply[: max(1, int(len(reply) * self.faults[Fault.TRUNCATED]["fraction"]))]
        conn.send_and_close(reply)
        if after is not None:
            after()

    # ------------------------------------------------------------------ protocol

    def respond(
        self, data: bytes, *, privileged: bool = True
    ) -> tuple[bytes, Callable[[], None] | None]:
        """Bytes to send for one request, plus an optional action to run after sending."""
        self._memo = {}  # state is fixed while one reply renders: compute load/pool once
        try:
            self.tick()
            return self._respond(data, privileged)
        finally:
            self._memo = None

    def _respond(self, data: bytes, privileged: bool) -> tuple[bytes, Callable[[], None] | None]:
        text = data.decode("utf-8", "replace").strip("\x00 \r\n\t")
        as_json = text.startswith("{")
        param: str | None = None
        if as_json:
            try:
                request = json.loads(text)
            except ValueError:
                request = None
            if not isinstance(request, dict):
                self.requests.append("<invalid json>")
                return self._encode(self._error(23, "Invalid JSON"), True), None
            if self.wm is not None:
                answered = whatsminer_api.handle_v2(self, request)
                if answered is not None:
                    return answered
            command = request.get("command", request.get("cmd"))
            if not isinstance(command, str):
                return self._encode(self._error(24, "Missing JSON 'command'"), True), None
            raw_param = request.get("parameter", request.get("param"))
            param = None if raw_param is None else str(raw_param)
        else:
            command, sep, rest = text.partition("|")
            param = rest if sep else None
        command = command.strip()
        self.requests.append(command if param is None else f"{command}|{param}")
        if "+" in command:
            return self._joined(command, as_json), None
        if self.lux is not None:
            handled = luxos.handle(self, command, param)
            if handled is not None:
                return self._encode(handled[0], as_json), handled[1]
        report = self._report_table.get(command)
        if report is not None:
            return self._encode(report(), as_json, command), None
        if command in PRIVILEGED_COMMANDS:
            if self.family == "whatsminer":
                return self._encode(self._error(45, "permission denied"), as_json), None
            if not privileged:
                denied = self._error(45, f"Access denied to '{command}' command")
                return self._encode(denied, as_json), None
            reply, after = self._privileged(command, param)
            return self._encode(reply, as_json), after
        return self._encode(self._invalid_command(), as_json), None

    def _joined(self, command: str, as_json: bool) -> bytes:
        names = [c for c in dict.fromkeys(command.split("+")) if c]
        if self.family == "whatsminer" and any(
            c.startswith("get_") or c == "status" for c in names
        ):
            return self._encode(self._invalid_command(), as_json)
        reports = self._report_table
        parts: dict[str, dict[str, Any]] = {}
        for name in names:
            joinable = name in reports and not name.startswith("get_") and name != "status"
            parts[name] = reports[name]() if joinable else self._invalid_command()
        if not as_json:
            chunks = [f"CMD={name}|" + self._text(reply, name) for name, reply in parts.items()]
            return "".join(chunks).encode() + b"\x00"
        joined: dict[str, Any] = {name: [reply] for name, reply in parts.items()}
        joined["id"] = 1
        return self._dumps(joined)

    def _encode(self, reply: Mapping[str, Any], as_json: bool, command: str | None = None) -> bytes:
        if as_json:
            return self._dumps(reply)
        return self._text(reply, command).encode() + b"\x00"

    def _dumps(self, reply: Mapping[str, Any]) -> bytes:
        if self.family == "whatsminer":
            return json.dumps(reply, sort_keys=True, separators=(",", ":")).encode()
        if reply.get("STATUS") == "RESTART":
            return b'{"RESTART","id":1}\x00'  # cgminer's literal (invalid) JSON
        return _quirky_json(reply, stats_quirk=self.family == "antminer").encode() + b"\x00"

    def _text(self, reply: Mapping[str, Any], command: str | None) -> str:
        status = reply.get("STATUS")
        if status == "RESTART":
            return "RESTART"
        head = (
            status[0]
            if isinstance(status, list)
            else {
                k: reply[k] for k in ("STATUS", "When", "Code", "Msg", "Description") if k in reply
            }
        )
        sections = [_text_row(head)]
        for key, rows in reply.items():
            if key in ("STATUS", "id", "When", "Code", "Msg", "Description"):
                continue
            for row in rows if isinstance(rows, list) else [rows]:
                named = key in ("SUMMARY", "VERSION", "CONFIG", "TEMPCTRL", "TUNERSTATUS")
                sections.append((f"{key}," if named else "") + _text_row(row))
        return "|".join(sections) + "|"

    # ------------------------------------------------------------------ reply pieces

    def _now(self) -> int:
        return int(time.time())

    def _ok(self, code: int, msg: str, description: str | None = None) -> dict[str, Any]:
        desc = description or DESCRIPTIONS[self.family]
        if self.family == "whatsminer":
            return {
                "Code": code,
                "Description": desc,
                "Msg": msg,
                "STATUS": "S",
                "When": self._now(),
            }
        return {"STATUS": "S", "When": self._now(), "Code": code, "Msg": msg, "Description": desc}

    def _status(self, code: int, msg: str, severity: str = "S") -> dict[str, Any]:
        head = self._ok(code, msg)
        head["STATUS"] = severity
        return {"STATUS": [head], "id": 1}

    def _error(self, code: int, msg: str) -> dict[str, Any]:
        if self.family == "whatsminer":
            return {
                "STATUS": "E",
                "When": self._now(),
                "Code": code,
                "Msg": msg,
                "Description": WHATSMINER_DESC,
            }
        return self._status(code, msg, "E")

    def _invalid_command(self) -> dict[str, Any]:
        if self.family == "whatsminer":
            return self._error(14, "invalid cmd")
        # cgminer's Invalid command STATUS has no Description (see the 4.11.1 fixture)
        return {
            "STATUS": [{"STATUS": "E", "When": self._now(), "Code": 14, "Msg": "Invalid command"}],
            "id": 1,
        }

    def _reports(self) -> dict[str, Callable[[], dict[str, Any]]]:
        common: dict[str, Callable[[], dict[str, Any]]] = {
            "summary": self._summary,
            "pools": self._pools,
            "devs": self._devs,
            "edevs": self._devs,
        }
        if self.family == "whatsminer":
            return {
                **common,
                "devdetails": self._devdetails,
                "get_version": self._wm_version,
                "get_psu": self._wm_psu,
                "status": self._wm_status,
            }
        extra: dict[str, Callable[[], dict[str, Any]]] = {
            "version": self._version,
            "stats": self._stats,
            "estats": self._stats,
            "config": self._config,
        }
        if self.family == "cgminer":
            extra["devdetails"] = self._cgminer_devdetails
        if self.family == "braiins":
            extra.update(
                devdetails=self._devdetails,
                fans=self._bos_fans,
                temps=self._bos_temps,
                tempctrl=self._bos_tempctrl,
                tunerstatus=self._bos_tuner,
            )
        if self.lux is not None:
            extra.update(luxos.reports(self))
        return {**common, **extra}

    def _version(self) -> dict[str, Any]:
        if self.lux is not None:
            return luxos.version(self)
        if self.dialect == "vnish":  # Vnish answers no version: its name is in STATS' Type
            return self._invalid_command()
        if self.family == "antminer":
            row = {
                "BMMiner": "1.0.0",
                "API": "3.1",
                "Miner": "49.0.1.3",
                "CompileTime": "Tue Dec  6 16:12:30 CST 2022",
                "Type": self.profile.model,
            }
            return {"STATUS": [self._ok(22, "CGMiner versions")], "VERSION": [row], "id": 1}
        if self.family == "braiins":
            row = {"API": "3.7", "BOSer": "boser-buildroot 0.1.0-0ce150e9"}
            return {"STATUS": [self._ok(22, "BOSer versions")], "VERSION": [row], "id": 1}
        row = {"CGMiner": "4.11.1", "API": "3.7"}
        return {"STATUS": [self._ok(22, "CGMiner versions")], "VERSION": [row], "id": 1}

    def _config(self) -> dict[str, Any]:
        row = {
            "ASC Count": self.profile.boards,
            "PGA Count": 0,
            "Pool Count": len(self.pools),
            "Strategy": "Failover",
            "Log Interval": 5,
            "Device Code": "ICA ",
            "OS": "Linux",
            "Hotplug": 5,
        }
        if self.lux is not None:
            row.update(luxos.config_extra(self))
        return {"STATUS": [self._ok(33, "CGMiner config")], "CONFIG": [row], "id": 1}

    def _summary(self) -> dict[str, Any]:
        acc, rej, stale, hw = self.totals()
        ths, avg = self.current_ths(), self.avg_ths()
        elapsed = int(self.uptime_s())
        rej_pct = round(100 * rej / (acc + rej), 4) if acc + rej else 0.0
        diff_acc, diff_rej = float(acc * SHARE_DIFF), float(rej * SHARE_DIFF)
        if self.family == "antminer":
            row: dict[str, Any] = {
                "Elapsed": elapsed,
                "GHS 5s": round(ths * 1000, 2),
                "GHS av": round(avg * 1000, 2),
                "GHS 30m": round(avg * 1000 * 1.0004, 2),
                "Found Blocks": 0,
                "Getwork": elapsed // 13,
                "Accepted": acc,
                "Rejected": rej,
                "Hardware Errors": hw,
                "Utility": round(acc / max(elapsed, 1) * 60, 2),
                "Discarded": elapsed * 89,
                "Stale": stale,
                "Get Failures": 1,
                "Local Work": elapsed * 90,
                "Remote Failures": 0,
                "Network Blocks": elapsed // 600,
                "Total MH": round(avg * 1e6 * elapsed, 1),
                "Work Utility": round(avg * 1e12 / 2**32 * 60 / 1000, 2),
                "Difficulty Accepted": diff_acc,
                "Difficulty Rejected": diff_rej,
                "Difficulty Stale": 0.0,
                "Best Share": 12904207043,
                "Device Hardware%": 0.0,
                "Device Rejected%": rej_pct,
                "Pool Rejected%": rej_pct,
                "Pool Stale%": 0.0,
                "Last getwork": self._now(),
            }
            return {"STATUS": [self._ok(11, "Summary")], "SUMMARY": [row], "id": 1}
        mhs = {
            "MHS av": round(avg * 1e6, 2),
            "MHS 5s": round(ths * 1e6, 2),
            "MHS 1m": round(avg * 1e6 * self.rng.uniform(0.99, 1.01), 2),
            "MHS 5m": round(avg * 1e6 * self.rng.uniform(0.995, 1.005), 2),
            "MHS 15m": round(avg * 1e6, 2),
        }
        row = {
            "Elapsed": elapsed,
            **mhs,
            "Found Blocks": 0,
            "Getworks": elapsed // 13,
            "Accepted": acc,
            "Rejected": rej,
            "Hardware Errors": hw,
            "Utility": round(acc / max(elapsed, 1) * 60, 2),
            "Discarded": elapsed * 60,
            "Stale": stale,
            "Get Failures": 0,
            "Local Work": elapsed * 7800,
            "Remote Failures": 0,
            "Network Blocks": elapsed // 600,
            "Total MH": round(avg * 1e6 * elapsed, 1),
            "Work Utility": round(avg * 1e12 / 2**32 * 60 / 1000, 2),
            "Difficulty Accepted": diff_acc,
            "Difficulty Rejected": diff_rej,
            "Difficulty Stale": 0.0,
            "Best Share": 41127493,
            "Device Hardware%": 0.011,
            "Device Rejected%": rej_pct,
            "Pool Rejected%": rej_pct,
            "Pool Stale%": 0.0,
            "Last getwork": self._now(),
        }
        if self.family == "whatsminer":
            temps = [self.board_temps(b) for b in range(self.profile.boards)]
            chips = [c for _, c in temps]
            fans = self.fan_speeds()
            power = self.power_w()
            row.update(
                {
                    "Temperature": max(t for t, _ in temps),
                    "Chip Temp Min": round(min(chips) - 12, 2),
                    "Chip Temp Avg": round(sum(chips) / len(chips) - 6, 2),
                    "Chip Temp Max": max(chips),
                    "Fan Speed In": fans[0],
                    "Fan Speed Out": fans[1],
                    "Power": power,
                    "Power_RT": power + self.rng.randint(0, 15),
                    "Power Limit": 3500,
                    "Power Mode": self.wm.power_mode if self.wm is not None else "Normal",
                    "Power Current": round(power / 13.1),
                    "Power Fanspeed": 9060,
                    "Factory GHS": int(self.profile.nominal_ths * 1000),
                    "Target MHS": int(self.profile.nominal_ths * 1e6 * 0.95),
                    "Target Freq": 625,
                    "freq_avg": self.profile.frequency,
                    "Firmware Version": f"'{WHATSMINER_FW}'",
                    "Uptime": elapsed + 638,
                    "MAC": self._mac(),
                    "CB Platform": "ALLWINNER_H3",
                    "CB Version": "V8",
                    "Chip Data": "HP5A01-19101436   BINV04-192101D",
                    "Error Code Count": 0,
                    "Factory Error Code Count": 0,
                    "HS RT": mhs["MHS 5m"],
                    "Hash Deviation%": 0.1061,
                    "Hash Stable": True,
                    "Hash Stable Cost Seconds": 1538,
                    "Liquid Cooling": False,
                    "Security Mode": 0,
                    "Voltage": 1180,
                }
            )
        return {"STATUS": [self._ok(11, "Summary")], "SUMMARY": [row], "id": 1}

    def _mac(self) -> str:
        low = self.index.to_bytes(3, "big").hex(":").upper()
        return f"C4:08:28:{low}"

    def _stats(self) -> dict[str, Any]:
        elapsed = int(self.uptime_s())
        if self.family == "antminer":
            return {
                "STATUS": [self._ok(70, "CGMiner stats")],
                "STATS": [self._antminer_stats_head(), self._antminer_stats(elapsed)],
                "id": 1,
            }
        head = {"STATS": 0, "ID": "POOL0", "Elapsed": elapsed, "Calls": 0, "Wait": 0.0}
        head.update({"Max": 0.0, "Min": 99999999.0, "Pool Calls": 0, "Pool Attempts": 0})
        rows = [head]
        if self.family == "braiins":
            rows = [{"STATS": 0, "ID": "BOS0", "Elapsed": elapsed, "Calls": 0, "Wait": 0.0}]
        return {"STATUS": [self._ok(70, "CGMiner stats")], "STATS": rows, "id": 1}

    def _antminer_stats_head(self) -> dict[str, Any]:
        if self.lux is not None:
            return luxos.stats_head(self)
        return {
            "BMMiner": "1.0.0",
            "Miner": "49.0.1.3",
            "CompileTime": "Tue Dec  6 16:12:30 CST 2022",
            "Type": self.profile.model,
        }

    def _antminer_stats(self, elapsed: int) -> dict[str, Any]:
        p = self.profile
        fans = self.fan_speeds()
        avg_gh = round(self.avg_ths() * 1000, 2)
        row: dict[str, Any] = {
            "STATS": 0,
            "ID": "BTM_SOC0",
            "Elapsed": elapsed,
            "Calls": 0,
            "Wait": 0,
            "Max": 0,
            "Min": 99999999,
            "GHS 5s": round(self.current_ths() * 1000, 2),
            "GHS av": avg_gh,
            "rate_30m": round(avg_gh * 1.0004, 2),
            "Mode": 2,
            "miner_count": p.boards,
            "frequency": self.freq_mhz,
            "fan_num": p.fans,
        }
        row.update({f"fan{i + 1}": rpm for i, rpm in enumerate(fans)})
        hw = int(self._hw_errors)
        row["temp_num"] = p.boards
        slots = p.boards + 1  # S19 controllers report a 4th, empty chain slot
        temps = [self.board_temps(b) for b in range(p.boards)]
        for b, (board_c, chip_c) in enumerate(temps, start=1):
            row[f"temp{b}"] = int(board_c)
            row[f"temp2_{b}"] = int(chip_c)
        for b in range(1, slots + 1):
            if b <= p.boards:
                pcb, chip, pic = self.board_sensors(*temps[b - 1])
                row[f"temp_pcb{b}"] = "-".join(map(str, pcb))
                row[f"temp_chip{b}"] = "-".join(map(str, chip))
                row[f"temp_pic{b}"] = "-".join(map(str, pic))
            else:
                for key in ("temp_pcb", "temp_chip", "temp_pic"):
                    row[f"{key}{b}"] = "0-0-0-0"
        row.update(
            {
                "total_rateideal": round(p.nominal_ths * self.hash_scale * 1000, 1),
                "rate_unit": "GH",
                "total_freqavg": self.freq_mhz,
                "total_acn": sum(p.chips_per_board for _ in range(p.boards)),
                "total rate": avg_gh,
                "temp_max": 0,
                "no_matching_work": hw,
            }
        )
        rates = [self.board_ths(b) for b in range(p.boards)]
        for b in range(1, slots + 1):
            row[f"chain_acn{b}"] = p.chips_per_board if b <= p.boards else 0
        for b in range(1, slots + 1):
            row[f"chain_acs{b}"] = self._chain_acs(b - 1) if b <= p.boards else ""
        for b in range(1, slots + 1):
            row[f"chain_hw{b}"] = hw // p.boards if b <= p.boards else 0
        for b in range(1, slots + 1):
            row[f"chain_rate{b}"] = f"{rates[b - 1] * 1000:.2f}" if b <= p.boards else ""
        for b in range(1, slots + 1):
            row[f"freq{b}"] = self.freq_mhz if b <= p.boards else 0
        row.update(
            {"miner_version": "49.0.1.3", "miner_id": f"{0x8144D5CA79100000 + self.index:x}"}
        )
        return row

    def _chain_acs(self, board: int) -> str:
        return _chain_acs_text(self.profile.chips_per_board, self.chips_ok(board))

    def _devs(self) -> dict[str, Any]:
        acc, rej, _, hw = self.totals()
        elapsed = int(self.uptime_s())
        enabled = "N" if self.sleeping else "Y"
        if self.family == "antminer":
            row = {
                "ASC": 0,
                "Name": "BTM_SOC",
                "ID": 0,
                "Enabled": enabled,
                "Status": "Alive",
                "Tenperature": 0.0,
                "MHS av": 0.0,
                "MHS 5s": 0.0,
                "Accepted": acc,
                "Rejected": rej,
                "Hardware Errors": 0,
                "Utility": 0.0,
                "Last Share Pool": 0,
                "Last Share Time": self._now(),
                "Total MH": 0.0,
                "Diff1 Work": 0,
                "Difficulty Accepted": float(acc * SHARE_DIFF),
                "Difficulty Rejected": float(rej * SHARE_DIFF),
                "Last Share Difficulty": self._now(),
                "Last Valid Work": self._now(),
                "Device Hardware%": 0.0,
                "Device Rejected%": 0.0,
                "Device Elapsed": elapsed,
            }
            return {"STATUS": [self._ok(9, "1 ASC(s)")], "DEVS": [row], "id": 1}
        rows = []
        boards = self.profile.boards
        fans = self.fan_speeds()
        for b in range(boards):
            ths = self.board_ths(b)
            board_c, chip_c = self.board_temps(b)
            dev: dict[str, Any] = {
                "ASC": b,
                "Name": {"whatsminer": "SM", "braiins": "", "cgminer": "ANT"}[self.family],
                "ID": b,
                "Enabled": enabled,
                "Status": "Alive" if self.chips_ok(b) else "Dead",
                "MHS av": round(self.board_ths(b, jitter=False) * self._avg_bias * 1e6, 2),
                "MHS 5s": round(ths * 1e6, 2),
                "MHS 1m": round(ths * 1e6 * self.rng.uniform(0.99, 1.01), 2),
                "MHS 5m": round(ths * 1e6, 2),
                "MHS 15m": round(ths * 1e6, 2),
                "Accepted": acc // boards,
                "Rejected": rej // boards,
                "Hardware Errors": hw // boards,
                "Last Share Pool": 0,
                "Last Share Time": self._now() - self.rng.randint(0, 20),
                "Device Elapsed": elapsed,
            }
            if self.family == "whatsminer":
                dev.update(
                    {
                        "Slot": b,
                        "Temperature": board_c,
                        "Chip Temp Max": chip_c,
                        "Chip Temp Avg": round(chip_c - 6.5, 2),
                        "Chip Temp Min": round(chip_c - 19, 2),
                        "Chip Frequency": self.profile.frequency,
                        "Effective Chips": self.chips_ok(b),
                        "Fan Speed In": fans[0],
                        "Fan Speed Out": fans[1],
                        "PCB SN": f"H5M14S69129A17K{10000 + self.index * 3 + b}",
                        "Upfreq Complete": 1,
                    }
                )
            elif self.family == "cgminer":
                dev["Temperature"] = board_c
            rows.append(dev)
        return {"STATUS": [self._ok(9, f"{boards} ASC(s)")], "DEVS": rows, "id": 1}

    def _devdetails(self) -> dict[str, Any]:
        rows = []
        for b in range(self.profile.boards):
            row: dict[str, Any] = {"DEVDETAILS": b, "Name": "", "ID": b, "Driver": ""}
            row.update({"Kernel": "", "Model": self.profile.model or "", "Device Path": ""})
            if self.family == "whatsminer":
                row.update(Name="SM", Driver="bitmicro")
            else:
                row.update(Voltage=13.6, Frequency=self.profile.frequency)
                row.update(Chips=self.chips_ok(b), Cores=self.chips_ok(b) * 8)
            rows.append(row)
        return {"STATUS": [self._ok(69, "Device Details")], "DEVDETAILS": rows, "id": 1}

    def _cgminer_devdetails(self) -> dict[str, Any]:
        """Upstream cgminer 4.11's ``devdetails``: one row per device, these seven keys."""
        rows = [
            {
                "DEVDETAILS": b,
                "Name": "ANT",
                "ID": b,
                "Driver": "ants3",
                "Kernel": "",
                "Model": "",
                "Device Path": "",
            }
            for b in range(self.profile.boards)
        ]
        return {"STATUS": [self._ok(69, "Device Details")], "DEVDETAILS": rows, "id": 1}

    def _pools(self) -> dict[str, Any]:
        active = self.active_pool()
        now_sim = self.fleet.now()
        rows = []
        for i, pool in enumerate(self.pools):
            is_active = pool is active
            status = "Disabled" if not pool.enabled else ("Dead" if pool.dead else "Alive")
            age = None if pool.last_share is None else max(0, int(now_sim - pool.last_share))
            row: dict[str, Any] = {
                "POOL": i + 1 if self.family == "whatsminer" else i,
                "URL": pool.url,
                "Status": status,
                "Priority": pool.priority,
                "Quota": 1,
                "Long Poll": "N",
                "Getworks": int(pool.accepted * 0.97) + 3,
                "Accepted": int(pool.accepted),
                "Rejected": int(pool.rejected),
                "Discarded": int(pool.accepted * 1116),
                "Stale": int(pool.stale),
                "Get Failures": 0,
                "Remote Failures": 0,
                "User": pool.user,
            }
            if self.family == "antminer":
                row["Last Share Time"] = (
                    "0" if age is None else f"{age // 3600}:{age // 60 % 60:02d}:{age % 60:02d}"
                )
                row["Diff"] = "524K" if is_active else ""
            else:
                row["Last Share Time"] = 0 if age is None else self._now() - age
            row.update(
                {
                    "Diff1 Shares": 0,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": float(int(pool.accepted) * SHARE_DIFF),
                    "Difficulty Rejected": float(int(pool.rejected) * SHARE_DIFF),
                    "Difficulty Stale": 0.0,
                    "Last Share Difficulty": float(SHARE_DIFF) if is_active else 0.0,
                    "Has Stratum": True,
                    "Stratum Active": is_active,
                    "Stratum URL": pool.url.split("://")[-1].rsplit(":", 1)[0] if is_active else "",
                    "Has GBT": False,
                    "Best Share": 12904207043.0 if is_active else 0.0,
                    "Pool Rejected%": 0.0,
                }
            )
            row["Pool Stale%%" if self.family == "antminer" else "Pool Stale%"] = 0.0
            if self.lux is not None:
                row["GROUP"] = 0  # LuxOS pools belong to a pool group (``groups``)
            rows.append(row)
        msg = f"{len(rows)} Pool(s)"
        return {"STATUS": [self._ok(7, msg)], "POOLS": rows, "id": 1}

    # Whatsminer btminer-specific -------------------------------------------------

    def _wm_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {
            "Code": 131,
            "Description": WHATSMINER_DESC,
            "Msg": msg,
            "STATUS": "S",
            "When": self._now(),
        }

    def _wm_version(self) -> dict[str, Any]:
        return self._wm_message({"api_ver": WHATSMINER_DESC, "fw_ver": WHATSMINER_FW})

    def _wm_psu(self) -> dict[str, Any]:
        psu = {
            "hw_version": "",
            "model": "P21-12-3600-E",
            "name": "P21",
            "sw_version": "102220.009",
        }
        return self._wm_message(psu)

    def _wm_status(self) -> dict[str, Any]:
        state = "true" if self.sleeping else "false"
        return self._wm_message({"Firmware Version": f"'{WHATSMINER_FW}'", "btmineroff": state})

    # Braiins OS ---------------------------------------------------------------------

    def _bos_fans(self) -> dict[str, Any]:
        fans = self.fan_speeds()
        speed = 100 if Fault.OVERHEAT in self.faults else 42
        rows = [{"FAN": i, "ID": i, "RPM": rpm, "Speed": speed} for i, rpm in enumerate(fans)]
        return {"STATUS": [self._ok(202, f"{len(rows)} Fan(s)")], "FANS": rows, "id": 1}

    def _bos_temps(self) -> dict[str, Any]:
        rows = []
        for b in range(self.profile.boards):
            board_c, chip_c = self.board_temps(b)
            rows.append({"TEMP": b, "ID": b, "Board": board_c, "Chip": chip_c})
        return {"STATUS": [self._ok(201, f"{len(rows)} Temp(s)")], "TEMPS": rows, "id": 1}

    def _bos_tempctrl(self) -> dict[str, Any]:
        row = {"Mode": "Automatic", "Target": 75.0, "Hot": 90.0, "Dangerous": 100.0}
        return {"STATUS": [self._ok(200, "Temperature control")], "TEMPCTRL": [row], "id": 1}

    def _bos_tuner(self) -> dict[str, Any]:
        row = {
            "PowerLimit": int(self.profile.power_w + 50),
            "ApproximateMinerPowerConsumption": self.power_w(),
            "DynamicPowerScaling": "Disabled",
        }
        return {"STATUS": [self._ok(203, "Tuner Status")], "TUNERSTATUS": [row], "id": 1}

    # ------------------------------------------------------------------ privileged

    def _pool_id(self, param: str | None) -> tuple[int | None, dict[str, Any] | None]:
        if param is None or not param.strip():
            return None, self._error(25, "Missing pool id parameter")
        try:
            pool_id = int(param.split(",")[0])
        except ValueError:
            pool_id = -1
        if not 0 <= pool_id < len(self.pools):
            msg = f"Invalid pool id {pool_id} - range is 0 - {len(self.pools) - 1}"
            return None, self._error(26, msg)
        return pool_id, None

    def _privileged(
        self, command: str, param: str | None
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        if command == "privileged":
            return self._status(46, "Privileged access OK"), None
        if command == "restart":
            return {"STATUS": "RESTART"}, lambda: self._spawn(self._restart())
        if command == "addpool":
            return self._addpool(param), None
        if command == "ascset":
            return self._ascset(param), None
        if command in ("switchpool", "enablepool", "disablepool", "removepool"):
            pool_id, error = self._pool_id(param)
            if error is not None or pool_id is None:
                return error or self._error(25, "Missing pool id parameter"), None
            return self._pool_command(command, pool_id), None
        return self._invalid_command(), None

    def _pool_command(self, command: str, pool_id: int) -> dict[str, Any]:
        pool = self.pools[pool_id]
        label = f"{pool_id}:'{pool.url}'"
        if command == "switchpool":
            pool.enabled = True
            for other in self.pools:
                if other is not pool and other.priority < pool.priority:
                    other.priority += 1
            pool.priority = 0
            return self._status(27, f"Switching to pool {label}")
        if command == "enablepool":
            if pool.enabled:
                return self._status(49, f"Pool {label} already enabled", "I")
            pool.enabled = True
            return self._status(47, f"Enabling pool {label}")
        if command == "disablepool":
            if not pool.enabled:
                return self._status(50, f"Pool {label} already disabled", "I")
            if sum(p.enabled for p in self.pools) <= 1:
                return self._error(51, f"Cannot disable last active pool {label}")
            pool.enabled = False
            return self._status(48, f"Disabling pool {label}")
        if len(self.pools) <= 1:
            return self._error(66, f"Cannot remove last pool {label}")
        if pool is self.active_pool() and not any(
            p.enabled and not p.dead for p in self.pools if p is not pool
        ):
            return self._error(67, f"Cannot remove active pool {label}")
        self.pools.remove(pool)
        for rank, other in enumerate(sorted(self.pools, key=lambda p: p.priority)):
            other.priority = rank
        return self._status(68, f"Removed pool {label}")

    def _addpool(self, param: str | None) -> dict[str, Any]:
        if not param:
            return self._error(52, "Missing addpool details")
        fields = _split_param(param)
        if len(fields) < 3 or not fields[0]:
            return self._error(53, f"Invalid addpool details '{param}'")
        url, user, password = fields[:3]
        self.pools.append(SimPool(url=url, user=user, password=password, priority=len(self.pools)))
        return self._status(55, f"Added pool '{url}'")

    def _ascset(self, param: str | None) -> dict[str, Any]:
        device, _, option = (param or "").partition(",")
        option = option.split(",")[0].strip().lower()
        if option in ("sleep", "wake"):
            self.sleeping = option == "sleep"
            return self._status(119, f"ASC {device or 0} set OK")
        return self._error(120, f"ASC {device or 0} set failed: unknown option '{option}'")


@lru_cache(maxsize=256)
def _chain_acs_text(chips: int, ok: int) -> str:
    """Antminer's ``chain_acsN``: one mark per chip (o ok, x failed) in groups of three."""
    marks = "o" * ok + "x" * (chips - ok)
    return "".join(" " + marks[i : i + 3] for i in range(0, chips, 3))


def _split_param(param: str) -> list[str]:
    """Split ``url,user,pass`` honouring ``\\,`` and ``\\\\`` escapes (cgminer addpool)."""
    fields: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(param):
        ch = param[i]
        if ch == "\\" and i + 1 < len(param):
            buf.append(param[i + 1])
            i += 2
            continue
        if ch == ",":
            fields.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    fields.append("".join(buf))
    return fields


def _quirky_json(value: Mapping[str, Any], *, stats_quirk: bool) -> str:
    """Compact JSON; with ``stats_quirk`` the first two STATS objects are joined by ``}{``
    exactly like stock bmminer does.

    One C-encoder pass over the reply: each STATS list is swapped for a placeholder string
    and its quirky text put in its place (this runs for every reply of a 10,000-miner sweep).
    """
    holders = _stats_holders(value) if stats_quirk else []
    if not holders:
        return json.dumps(value, separators=(",", ":"))
    lists = [holder["STATS"] for holder in holders]
    for slot, holder in enumerate(holders):
        holder["STATS"] = f"\x00stats{slot}\x00"
    try:
        text = json.dumps(value, separators=(",", ":"))
    finally:
        for holder, stats in zip(holders, lists, strict=True):
            holder["STATS"] = stats
    for slot, stats in enumerate(lists):
        body = [json.dumps(x, separators=(",", ":")) for x in stats]
        quirky = "[" + body[0] + body[1] + "".join("," + x for x in body[2:]) + "]"
        text = text.replace(json.dumps(f"\x00stats{slot}\x00"), quirky, 1)
    return text


def _stats_holders(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dicts (a reply, or a joined reply's parts) holding a STATS list of 2+ objects."""
    candidates = [value, *(p[0] for p in value.values() if isinstance(p, list) and p)]
    return [
        c
        for c in candidates
        if isinstance(c, dict) and isinstance(c.get("STATS"), list) and len(c["STATS"]) >= 2
    ]


def _text_row(row: Mapping[str, Any]) -> str:
    def escape(value: Any) -> str:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        for ch in ("\\", "|", ",", "="):
            text = text.replace(ch, "\\" + ch)
        return text

    return ",".join(f"{escape(k)}={escape(v)}" for k, v in row.items())


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
