"""One simulated miner on the wire: its RPC listener, the connection-level faults, restarts
and the control dialects' own listeners (web CGI, Whatsminer API v3, BOSer gRPC).

``SimMiner`` is the miner's state (``physics.MinerState``) plus this wiring; what a request
is answered is its firmware dialect's job (``dialects``).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from backend.sim import braiins_grpc, luxos, whatsminer_api
from backend.sim.antminer_web import AntminerWebServer
from backend.sim.fleet_wire import Connection, Listener
from backend.sim.miner import faults as fault_rules
from backend.sim.miner.access import access_group, parsed_rules
from backend.sim.miner.dialects import DIALECT_APIS
from backend.sim.miner.dialects.antminer import chain_acs
from backend.sim.miner.dialects.base import wall_clock
from backend.sim.miner.faults import Fault
from backend.sim.miner.physics import MinerState
from backend.sim.miner.profiles import DIALECTS, PROFILES
from backend.sim.vnish_web import VnishWebServer

if TYPE_CHECKING:
    from backend.sim.fleet import FleetSimulator


class SimMiner(MinerState):
    """One simulated miner: its state, its firmware's RPC dialect and its TCP server."""

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
        super().__init__(index, PROFILES[family], fleet.now, seed)
        self.fleet = fleet
        self.dialect = family  # how it is controlled: "luxos" is an Antminer with LuxOS
        self.family = self.profile.family
        self.host = host
        self.port = port
        self.api_allow = api_allow
        self.restarting = False
        self.web: AntminerWebServer | VnishWebServer | None = None
        self.lux = luxos.LuxosState() if family == "luxos" else None
        is_wm = self.family == "whatsminer"
        self.wm = whatsminer_api.WhatsminerState() if is_wm else None
        self.wm_v3: whatsminer_api.WhatsminerV3Server | None = None
        is_bos = self.family == "braiins"
        self.bos = braiins_grpc.BosState(self.profile.power_w) if is_bos else None
        self.bos_grpc: braiins_grpc.BraiinsGrpcServer | None = None
        self.requests: deque[str] = deque(maxlen=64)
        self.api = DIALECT_APIS[family](self)
        self._rules = parsed_rules(api_allow)
        self._listener: Listener | None = None
        self._conns: set[Connection] = set()
        self._background: set[asyncio.Task[None]] = set()

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

    # ------------------------------------------------------------------ faults

    async def set_fault(self, fault: Fault | str, **params: Any) -> None:
        """Switch a fault on (parameters as documented on ``Fault``)."""
        kind = Fault(fault)
        self.tick()
        self.faults[kind] = fault_rules.fault_params(kind, self.profile, params)
        if kind is Fault.DEAD_POOL:
            fault_rules.kill_pools(self.pools, self.active_pool(), params.get("pool"))
        if kind is Fault.OFFLINE:
            await self._stop_listening()

    async def clear_fault(self, fault: Fault | str | None = None) -> None:
        """Switch one fault (or all) off."""
        kinds = [Fault(fault)] if fault is not None else list(self.faults)
        self.tick()
        for kind in kinds:
            self.faults.pop(kind, None)
            if kind is Fault.DEAD_POOL:
                fault_rules.revive_pools(self.pools)
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
            self.reboot()
        finally:
            self.restarting = False
        if Fault.OFFLINE not in self.faults:
            await self._listen()

    def access_group(self, client_ip: str) -> str | None:
        """'W' (privileged), another letter (read-only) or None (not allowed at all)."""
        return access_group(self._rules, client_ip)

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
        if not reply and self.wm is not None and self.wm.reboot_drop == "reset":
            conn.reset()  # a Whatsminer going down on a reboot before answering it
        else:
            conn.send_and_close(reply)  # an empty reply: closed unanswered
        if after is not None:
            after()

    def respond(
        self, data: bytes, *, privileged: bool = True
    ) -> tuple[bytes, Callable[[], None] | None]:
        """Bytes to send for one request, plus an optional action to run after sending."""
        self._memo = {}  # state is fixed while one reply renders: compute load/pool once
        try:
            self.tick()
            return self.api.respond(data, privileged)
        finally:
            self._memo = None

    # ------------------------------------------------------------------ for the control modules
    # luxos, whatsminer_api and antminer_web render with these; the driver tests read _stats.

    def _now(self) -> int:
        return wall_clock()

    def _invalid_command(self) -> dict[str, Any]:
        return self.api.invalid_command()

    def _privileged(
        self, command: str, param: str | None
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        return self.api.write(command, param)

    def _chain_acs(self, board: int) -> str:
        return chain_acs(self, board)

    def _stats(self) -> dict[str, Any]:
        return self.api.reports["stats"]()
