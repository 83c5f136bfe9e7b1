"""What a sweep tells its listeners about each polled miner.

``miner.update`` is deadbanded (a reading must move a full step) so partners' streams stay
quiet; ``fleet.readings`` is the truth of the sweep for consoles: every polled miner's
changing readings as one compact row each (field names once, values in order), so a screen
holds every row as of the last sweep without a request per miner and without a WebSocket
message per miner.
"""

from __future__ import annotations

from typing import Any

from backend.fleet.miner_state import Fingerprint, MinerState
from backend.fleet.normalize import MinerSnapshot
from hashinsight_contract.events import READING_FIELDS

# Its own channel: 10,000 miners make ~1.5 MB a sweep, which a partner following `miners` (the
# deadbanded updates) should not receive unless it asks for it.
READINGS_CHANNEL = "readings"
READINGS = "fleet.readings"


class SweepEvents:
    """One sweep's readings rows and the miners whose change is worth a ``miner.update``."""

    __slots__ = ("changed", "readings")

    def __init__(self) -> None:
        self.changed: list[MinerState] = []
        self.readings: list[list[Any]] = []

    def add(self, state: MinerState, snap: MinerSnapshot, open_alerts: int) -> bool:
        """The miner's readings row; True (and listed as changed) if it moved past the
        deadband since it was last published."""
        self.readings.append(reading_row(state, snap, open_alerts))
        now = fingerprint(snap, open_alerts, state.money)
        if changed(state.fingerprint, now):
            state.fingerprint = now
            self.changed.append(state)
            return True
        return False

    def readings_event(self, sweep: int, polled_at: float, interval_s: float) -> dict[str, Any]:
        return {
            "sweep": sweep,
            "polled_at": polled_at,
            "interval_s": interval_s,
            "fields": READING_FIELDS,
            "rows": self.readings,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def reading_row(state: MinerState, snap: MinerSnapshot, open_alerts: int) -> list[Any]:
    """One `fleet.readings` row (READING_FIELDS after the id), rounded to what is shown."""
    revenue, cost, profit = state.money
    pools = snap.pools
    return [
        state.spec.id,
        snap.status,
        _round(snap.hashrate_ths, 3),
        _round(snap.hashrate_avg_ths, 3),
        snap.hashrate_expected_ths,
        _round(snap.power_w, 1),
        _round(snap.efficiency_jth, 2),
        _round(snap.temp_inlet_c, 1),
        _round(snap.temp_outlet_c, 1),
        _round(snap.temp_board_max_c, 1),
        _round(snap.temp_chip_max_c, 1),
        list(snap.fans_rpm),
        snap.accepted,
        snap.rejected,
        snap.hardware_errors,
        snap.uptime_s,
        snap.error,
        state.last_seen,
        revenue,
        cost,
        profit,
        open_alerts,
        sum(1 for p in pools if p.status == "alive"),
        len(pools),
    ]


def fingerprint(
    snap: MinerSnapshot, open_alerts: int, money: tuple[float | None, ...]
) -> Fingerprint:
    """What an operator would call a change: (what must match exactly, readings, how far
    each reading may move before it counts). Readings move with noise: 2%/5% of expected
    hashrate (average/5 s), 5% power, 3 °C; see ``changed``."""
    base = snap.hashrate_expected_ths or snap.hashrate_avg_ths or snap.hashrate_ths or 1.0
    exact = (
        snap.status,
        snap.error,
        snap.model,
        snap.firmware,
        tuple((b.chips_ok, b.chips_failed) for b in snap.boards),
        tuple(rpm < 1000 for rpm in snap.fans_rpm),
        tuple((p.url, p.user, p.status, p.active) for p in snap.pools),
        open_alerts,
        money[2] is not None and money[2] < 0,
    )
    readings = (
        snap.hashrate_avg_ths,
        snap.hashrate_ths,
        snap.power_w,
        snap.temp_chip_max_c,
        snap.temp_board_max_c,
        snap.temp_inlet_c,
    )
    steps = (base * 0.02, base * 0.05, max((snap.power_w or 0) * 0.05, 25.0), 3.0, 3.0, 3.0)
    return exact, readings, steps


def changed(published: Fingerprint | None, now: Fingerprint) -> bool:
    """Against the last *published* fingerprint, not the last poll's: jitter around a value
    never publishes (a fixed grid would flap at its lines: 3 in 4 miners a sweep), while a
    slow drift publishes once it has moved a full step."""
    if published is None or published[0] != now[0]:
        return True
    for before, after, step in zip(published[1], now[1], now[2], strict=True):
        if before is None or after is None:
            if before is not after:
                return True
        elif abs(after - before) >= step:
            return True
    return False
