"""A simulated miner's state and how it evolves: hashrate, shares, temperatures, fans, power.

Readings are computed lazily from a simulated clock when a request arrives, so thousands of
idle miners cost no CPU. Each miner draws its noise from its own seeded ``random.Random``;
the order of the draws is part of what a seed reproduces. While one reply renders,
``_memo`` (a dict) caches the load, the average hashrate and the active pool so every field
of the reply agrees.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from backend.sim.miner import pools as pool_list
from backend.sim.miner.faults import Fault
from backend.sim.miner.pools import SimPool
from backend.sim.miner.profiles import ModelProfile

SHARE_DIFF = 524288  # "524K" as the Antminer fixture shows


class MinerState:
    """What one miner is doing, advanced to the simulated now on every request."""

    def __init__(
        self, index: int, profile: ModelProfile, clock: Callable[[], float], seed: int
    ) -> None:
        self.index = index
        self.profile = profile
        self.clock = clock  # simulated seconds
        self.rng = random.Random(seed * 1_000_003 + index)
        self.faults: dict[Fault, dict[str, Any]] = {}
        self.sleeping = False
        self.work_mode = 0  # stock Antminer: 0 normal, 1 sleep, 3 low power
        # the tuning in force (a LuxOS profile): hashrate and power relative to nominal
        self.hash_scale = 1.0
        self.power_scale = 1.0
        self.freq_mhz = profile.frequency
        self.blinking = False
        self._memo: dict[str, Any] | None = None
        self._temp_bias = [self.rng.uniform(-3, 3) for _ in range(profile.boards)]
        self._avg_bias = self.rng.uniform(0.995, 1.012)
        self._hw_errors = 0.0
        self._last_tick = clock()
        self.boot_at = self._last_tick - self.rng.uniform(2 * 3600, 20 * 86400)
        self.pools: list[SimPool] = pool_list.default_pools(index)
        self._seed_counters()

    def _seed_counters(self) -> None:
        pool = self.active_pool()
        uptime = self.uptime_s()
        if pool is not None:
            pool.accepted = self.share_rate() * uptime
            pool.rejected = pool.accepted * 0.0027
            pool.stale = pool.accepted * 0.0003
            pool.last_share = self.clock() - self.rng.uniform(1, 30)
        self._hw_errors = uptime * 0.011

    def reboot(self) -> None:
        """Fresh counters, awake: what a firmware restart leaves behind."""
        now = self.clock()
        self.boot_at = self._last_tick = now
        self._hw_errors = 0.0
        self.sleeping = False
        for pool in self.pools:
            pool.accepted = pool.rejected = pool.stale = 0.0
            pool.last_share = None

    def _mac(self) -> str:
        low = self.index.to_bytes(3, "big").hex(":").upper()
        return f"C4:08:28:{low}"

    # ------------------------------------------------------------------ hashing

    def uptime_s(self) -> float:
        return max(0.0, self.clock() - self.boot_at)

    def active_pool(self) -> SimPool | None:
        memo = self._memo
        if memo is not None and "pool" in memo:
            cached: SimPool | None = memo["pool"]
            return cached
        pool = pool_list.active_pool(self.pools)
        if memo is not None:
            memo["pool"] = pool
        return pool

    def _board_health(self, board: int) -> float:
        failure = self.faults.get(Fault.BOARD_FAILURE)
        if failure is None or failure["board"] != board:
            return 1.0
        failed: int = failure["failed_chips"]
        return max(0.0, 1.0 - failed / self.profile.chips_per_board)

    def _load(self) -> float:
        """1.0 when hashing normally; 0 when asleep or without a live pool."""
        memo = self._memo
        if memo is not None and "load" in memo:
            cached_load: float = memo["load"]
            return cached_load
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
            cached_avg: float = memo["avg"]
            return cached_avg
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
        now = self.clock()
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

    # ------------------------------------------------------------------ heat and power

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
