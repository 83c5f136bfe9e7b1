"""A sweep's database rows: one sample per poll, 5-minute rollups, changed miners' state and
alert changes, as the bind dicts ``FleetStore.write_sweep`` takes (``SweepWrite``).

A suspect poll (see ``plausible``) is kept as a failed poll: its other readings are shown,
never kept in history or reports. Rollups accumulate on the miner's state (``acc``) and are
written when a bucket rolls over, or at stop (``rollups_on_stop``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backend.fleet.normalize import MinerSnapshot
from backend.fleet.store import SweepWrite, snapshot_json

if TYPE_CHECKING:
    from backend.fleet.alerts import SweepAlerts
    from backend.fleet.miner_state import MinerState

ROLLUP_S = 300
_UNRECORDED = MinerSnapshot.failed("suspect data")  # what history keeps of a suspect poll


class SweepRows:
    """Builds one sweep's ``SweepWrite``, a poll at a time."""

    __slots__ = ("_rollup", "_sample", "batch", "bucket", "now_dt")

    def __init__(self, now: float) -> None:
        self.batch = batch = SweepWrite()
        self.now_dt = datetime.fromtimestamp(now, UTC)
        self.bucket = int(now // ROLLUP_S) * ROLLUP_S
        self._sample, self._rollup = batch.samples.append, batch.rollups.append

    def poll(self, state: MinerState, snap: MinerSnapshot, suspect: bool) -> None:
        """The poll's sample, and the rollup row of a bucket it closed."""
        kept = _UNRECORDED if suspect else snap
        self._sample(
            {
                "miner_id": state.spec.id,
                "ts": self.now_dt,
                "status": snap.status,
                "hashrate_ths": kept.hashrate_ths,
                "power_w": kept.power_w,
                "temp_board_max_c": kept.temp_board_max_c,
                "temp_chip_max_c": kept.temp_chip_max_c,
            }
        )
        row = accumulate(state, self.bucket, kept)
        if row is not None:
            self._rollup(row)

    def miner(self, state: MinerState, data: dict[str, Any]) -> None:
        """A changed miner's current state (``data``: its API object) for the miners table."""
        self.batch.states.append(
            {
                "b_id": state.spec.id,
                "b_status": data["status"],
                "b_snapshot": snapshot_json(data),
                "b_last_seen": _dt(state.last_seen),
                "b_polled_at": self.now_dt,
            }
        )

    def alerts(self, alerts: SweepAlerts) -> None:
        """New alerts to insert, and cleared ones (those already stored) to update."""
        batch = self.batch
        for alert in alerts.raised:
            batch.new_alerts.append(
                {
                    "miner_id": alert.miner_id,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "state": alert.state,
                    "message": alert.message,
                    "value": alert.value,
                    "threshold": alert.threshold,
                    "raised_at": alert.raised_at,
                }
            )
        for alert in alerts.cleared:
            if alert.id:
                batch.alert_updates.append(
                    {"b_id": alert.id, "b_state": "cleared", "b_cleared_at": alert.cleared_at}
                )


def rollups_on_stop(states: Iterable[MinerState]) -> list[dict[str, Any]]:
    """Partial buckets, written at stop so a restart loses no history."""
    rows = []
    for state in states:
        if state.acc is not None and state.acc[1]:
            rows.append(rollup_row(state.spec.id, state.acc))
            state.acc = None
    return rows


def accumulate(state: MinerState, bucket: int, snap: MinerSnapshot) -> dict[str, Any] | None:
    """Add one poll to the miner's 5-minute bucket; return the previous bucket's row if the
    bucket just rolled over. acc = [bucket, n, online, rate_sum, rate_n, power_sum, power_n,
    board_max, chip_max, last_status]."""
    acc = state.acc
    row = None
    if acc is not None and acc[0] != bucket:
        row = rollup_row(state.spec.id, acc) if acc[1] else None
        acc = None
    if acc is None:
        acc = state.acc = [bucket, 0, 0, 0.0, 0, 0.0, 0, None, None, snap.status]
    acc[1] += 1
    if snap.status == "online":
        acc[2] += 1
    if snap.hashrate_ths is not None:
        acc[3] += snap.hashrate_ths
        acc[4] += 1
    if snap.power_w is not None:
        acc[5] += snap.power_w
        acc[6] += 1
    for index, value in ((7, snap.temp_board_max_c), (8, snap.temp_chip_max_c)):
        if value is not None and (acc[index] is None or value > acc[index]):
            acc[index] = value
    acc[9] = snap.status
    return row


def rollup_row(miner_id: str, acc: list[Any]) -> dict[str, Any]:
    return {
        "miner_id": miner_id,
        "ts": datetime.fromtimestamp(acc[0], UTC),
        "samples": acc[1],
        "online": acc[2],
        "status": acc[9],
        "hashrate_ths": round(acc[3] / acc[4], 6) if acc[4] else None,
        "power_w": round(acc[5] / acc[6], 1) if acc[6] else None,
        "temp_board_max_c": acc[7],
        "temp_chip_max_c": acc[8],
    }


def _dt(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None
