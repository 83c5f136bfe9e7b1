"""A miner's pool list and cgminer's pool commands over it.

The commands return an ``Outcome`` (severity, code, message as cgminer words them); the
firmware dialect turns it into its own reply shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

POOL_ID_COMMANDS = frozenset({"switchpool", "enablepool", "disablepool", "removepool"})
DEFAULT_URLS = (
    "stratum+tcp://btc.sim-pool.example:3333",
    "stratum+tcp://btc-backup.sim-pool.example:443",
    "stratum+tcp://btc.sim-failover.example:700",
)


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


class Outcome(NamedTuple):
    """A command's result: severity "S" (done), "I" (nothing to do) or "E" (refused)."""

    severity: str
    code: int
    msg: str


def default_pools(index: int) -> list[SimPool]:
    """Three pools in failover order, the worker named after the miner's rack slot."""
    worker = f"hashinsight.r{index // 40:02d}m{index % 40:02d}"
    return [SimPool(url=u, user=worker, priority=p) for p, u in enumerate(DEFAULT_URLS)]


def active_pool(pools: list[SimPool]) -> SimPool | None:
    """The usable pool of highest priority (lowest number), if any."""
    usable = [p for p in pools if p.enabled and not p.dead]
    return min(usable, key=lambda p: p.priority) if usable else None


def pool_id(pools: list[SimPool], param: str | None) -> int | Outcome:
    """The pool index a command's parameter names, or the error cgminer answers."""
    if param is None or not param.strip():
        return Outcome("E", 25, "Missing pool id parameter")
    try:
        index = int(param.split(",")[0])
    except ValueError:
        index = -1
    if not 0 <= index < len(pools):
        return Outcome("E", 26, f"Invalid pool id {index} - range is 0 - {len(pools) - 1}")
    return index


def pool_command(pools: list[SimPool], command: str, index: int) -> Outcome:
    """``switchpool``, ``enablepool``, ``disablepool`` or ``removepool`` on ``pools[index]``."""
    pool = pools[index]
    label = f"{index}:'{pool.url}'"
    if command == "switchpool":
        pool.enabled = True
        for other in pools:
            if other is not pool and other.priority < pool.priority:
                other.priority += 1
        pool.priority = 0
        return Outcome("S", 27, f"Switching to pool {label}")
    if command == "enablepool":
        if pool.enabled:
            return Outcome("I", 49, f"Pool {label} already enabled")
        pool.enabled = True
        return Outcome("S", 47, f"Enabling pool {label}")
    if command == "disablepool":
        if not pool.enabled:
            return Outcome("I", 50, f"Pool {label} already disabled")
        if sum(p.enabled for p in pools) <= 1:
            return Outcome("E", 51, f"Cannot disable last active pool {label}")
        pool.enabled = False
        return Outcome("S", 48, f"Disabling pool {label}")
    if len(pools) <= 1:
        return Outcome("E", 66, f"Cannot remove last pool {label}")
    if pool is active_pool(pools) and not any(
        p.enabled and not p.dead for p in pools if p is not pool
    ):
        return Outcome("E", 67, f"Cannot remove active pool {label}")
    pools.remove(pool)
    for rank, other in enumerate(sorted(pools, key=lambda p: p.priority)):
        other.priority = rank
    return Outcome("S", 68, f"Removed pool {label}")


def add_pool(pools: list[SimPool], param: str | None) -> Outcome:
    """``addpool|url,user,pass`` appends a pool of lowest priority."""
    if not param:
        return Outcome("E", 52, "Missing addpool details")
    fields = split_param(param)
    if len(fields) < 3 or not fields[0]:
        return Outcome("E", 53, f"Invalid addpool details '{param}'")
    url, user, password = fields[:3]
    pools.append(SimPool(url=url, user=user, password=password, priority=len(pools)))
    return Outcome("S", 55, f"Added pool '{url}'")


def split_param(param: str) -> list[str]:
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
