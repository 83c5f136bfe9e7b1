"""Per-miner failure modes and what switching one on or off does to the miner's pools.

The physics (``physics.py``) reads the active faults when it computes a reading; the
connection-level ones (offline, slow, hang, garbage, truncated, reset) are acted on by the
miner's server (``server.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from backend.sim.miner.pools import SimPool
from backend.sim.miner.profiles import ModelProfile


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


def fault_params(kind: Fault, profile: ModelProfile, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over the defaults documented on ``Fault``."""
    defaults: dict[Fault, dict[str, Any]] = {
        Fault.SLOW: {"delay_s": 1.0},
        Fault.TRUNCATED: {"fraction": 0.5},
        Fault.OVERHEAT: {"delta_c": 25.0},
        Fault.BOARD_FAILURE: {"board": profile.boards - 1, "failed_chips": profile.chips_per_board},
        Fault.HASHRATE_DROP: {"factor": 0.5},
    }
    return {**defaults.get(kind, {}), **params}


def kill_pools(pools: list[SimPool], active: SimPool | None, target: Any) -> None:
    """``dead_pool``: the pool at index ``target``, "all", or (None) the active one dies."""
    for i, pool in enumerate(pools):
        if target == "all" or (target is None and pool is active) or target == i:
            pool.dead = True


def revive_pools(pools: list[SimPool]) -> None:
    for pool in pools:
        pool.dead = False
