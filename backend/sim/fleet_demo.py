"""The demo's miner fleet: a few hundred simulated miners with labels and a few faults.

Every miner has its own loopback address at port 4028, like a real site; stock Antminers also
serve their web CGI (digest auth, factory root/root) on that address at ``WEB_PORT`` (80 on a
real site), so the demo console can restart, switch pools and sleep them with a verified
effect, and LuxOS miners take the same commands through their sessions; Braiins OS miners serve
their gRPC API at ``GRPC_PORT`` (50051 on a real site). Two demos (or a demo and a test run) on
one machine would collide on those addresses, so the fleet moves to another 127.x block when its
first choice is taken.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from backend.sim.fleet import Fault, FleetSimulator, iter_loopback_addresses

log = logging.getLogger("hashinsight.sim")

MINERS_PER_RACK = 20
# (miner index, fault, parameters): visible trouble for the demo's alerts and commands.
DEMO_FAULTS: tuple[tuple[int, Fault, dict[str, Any]], ...] = (
    (7, Fault.OVERHEAT, {}),
    (13, Fault.BOARD_FAILURE, {}),
    (21, Fault.OFFLINE, {}),
    (34, Fault.DEAD_POOL, {"pool": "all"}),
    (55, Fault.HASHRATE_DROP, {"factor": 0.55}),
    (89, Fault.HANG, {}),
)
READ_ONLY = (144,)  # answers privileged commands with "access denied" (--api-allow R:0/0)
ATTEMPTS = 6
WEB_PORT = 14080
GRPC_PORT = 14051
# A reboot keeps a miner dark for longer than one poll interval (10 s by default), so the
# console sees it go offline and come back with a fresh uptime.
RESTART_DOWNTIME_S = 25.0
# Firmware by position, repeated: every kind the console meets (stock Antminer, Whatsminer,
# Braiins OS, plain cgminer, LuxOS, Vnish), the controllable ones first among the miners the
# demo's stories use (3: restart, 5: pool switch, 9: sleep; 144 is the read-only cgminer).
PATTERN = (
    "antminer",
    "whatsminer",
    "braiins",
    "antminer",
    "cgminer",
    "luxos",
    "whatsminer",
    "vnish",
    "braiins",
    "antminer",
)


class DemoFleet(FleetSimulator):
    def __init__(self, count: int) -> None:
        super().__init__(
            count,
            base_ip=_base(0),
            families=PATTERN,
            read_only=[i for i in READ_ONLY if i < count],
            seed=20_240,
            restart_downtime_s=RESTART_DOWNTIME_S,
            web_port=WEB_PORT,
            braiins_grpc_port=GRPC_PORT,
        )

    async def start(self) -> None:
        for attempt in range(ATTEMPTS):
            try:
                await super().start()
                break
            except RuntimeError as exc:
                if attempt == ATTEMPTS - 1:
                    raise
                log.info("demo fleet: %s; trying another loopback block", exc)
                self._move(_base(attempt + 1))
        for index, fault, params in DEMO_FAULTS:
            if index < len(self.miners):
                await self.miners[index].set_fault(fault, **params)

    def _move(self, base_ip: str) -> None:
        for miner, host in zip(
            self.miners, iter_loopback_addresses(base_ip, len(self.miners)), strict=False
        ):
            miner.host = host
            if miner.web is not None:
                miner.web.host = host

    def settings_overrides(self) -> dict[str, Any]:
        entries = []
        for miner in self.miners:
            rack = miner.index // MINERS_PER_RACK
            entries.append(
                {
                    "address": f"{miner.host}:{miner.port}",
                    "site": "Site A" if rack % 2 == 0 else "Site B",
                    "rack": f"R{rack + 1:02d}",
                    "position": f"{miner.index % MINERS_PER_RACK + 1:02d}",
                    **({"web_port": miner.web_port} if miner.web_port is not None else {}),
                    **({"grpc_port": miner.grpc_port} if miner.grpc_port is not None else {}),
                }
            )
        return {"miners": entries}


def _base(attempt: int) -> str:
    """127.0.1.1 first; then a block derived from the process id, then others."""
    if attempt == 0:
        return "127.0.1.1"
    seed = (os.getpid() + attempt * 7919) % 60
    return f"127.{30 + seed}.1.1"


def demo_fleet(count: int) -> DemoFleet:
    return DemoFleet(count)
