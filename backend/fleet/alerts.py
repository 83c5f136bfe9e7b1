"""Alert rules over each sweep, and their lifecycle: raised -> acknowledged -> cleared.

A rule must hold for ``fleet_alert_raise_sweeps`` consecutive polls to raise and be absent
for ``fleet_alert_clear_sweeps`` to clear, so a miner hovering at a threshold does not flap.
Only rules that can be judged count: an offline miner says nothing about its temperatures,
so those alerts neither clear nor raise until it answers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backend.fleet.normalize import MinerSnapshot
from hashinsight_contract.fleet import RULES, AlertOut

if TYPE_CHECKING:
    from backend.fleet.models import FleetAlertRow
    from backend.fleet.settings import FleetSettings

CHANNEL = "alerts"
ACK_NOTE_MAX = 500
# Rules judged while the miner answers but does not hash (sleeping).
_SLEEPING_RULES = frozenset({"offline", "overheat", "cold_inlet"})
DEFAULT_THRESHOLDS: dict[str, float] = {
    "chip_max_c": 95.0,
    "board_max_c": 85.0,
    "inlet_min_c": 5.0,
    "fan_min_rpm": 500.0,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule that holds right now for one miner."""

    rule: str
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None


@dataclass(slots=True)
class Alert:
    """An alert as the API shows it (also the in-memory record of an open one)."""

    id: int
    miner_id: str
    rule: str
    severity: str
    state: str
    message: str
    value: float | None
    threshold: float | None
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None
    ack_note: str | None = None

    def out(self) -> AlertOut:
        """The alert as its events carry it."""
        return AlertOut(
            id=self.id,
            miner_id=self.miner_id,
            rule=self.rule,
            severity=self.severity,
            state=self.state,
            message=self.message,
            value=self.value,
            threshold=self.threshold,
            raised_at=self.raised_at.timestamp(),
            acknowledged_at=_ts(self.acknowledged_at),
            acknowledged_by=self.acknowledged_by,
            ack_note=self.ack_note,
            cleared_at=_ts(self.cleared_at),
        )

    @classmethod
    def from_row(cls, row: FleetAlertRow) -> Alert:
        return cls(
            id=row.id,
            miner_id=row.miner_id,
            rule=row.rule,
            severity=row.severity,
            state=row.state,
            message=row.message,
            value=row.value,
            threshold=row.threshold,
            raised_at=row.raised_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            cleared_at=row.cleared_at,
            ack_note=row.ack_note,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Back from `to_dict()` (an event from another process)."""
        raised_at = _dt(data["raised_at"])
        assert raised_at is not None
        return cls(
            id=int(data["id"]),
            miner_id=str(data["miner_id"]),
            rule=str(data["rule"]),
            severity=str(data["severity"]),
            state=str(data["state"]),
            message=str(data["message"]),
            value=data.get("value"),
            threshold=data.get("threshold"),
            raised_at=raised_at,
            acknowledged_at=_dt(data.get("acknowledged_at")),
            acknowledged_by=data.get("acknowledged_by"),
            cleared_at=_dt(data.get("cleared_at")),
            ack_note=_note(data.get("ack_note")),
        )


def _note(value: Any) -> str | None:
    return value[:ACK_NOTE_MAX] if isinstance(value, str) else None


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float):
        raise TypeError("an alert time is epoch seconds")
    return datetime.fromtimestamp(float(value), UTC)


@dataclass(slots=True)
class SweepAlerts:
    """What one sweep changed: alerts to insert (no id yet) and alerts that cleared."""

    raised: list[Alert] = field(default_factory=list)
    cleared: list[Alert] = field(default_factory=list)


class RuleSet:
    """The rules with their configured thresholds; pure, so tests drive it directly."""

    def __init__(self, settings: FleetSettings) -> None:
        self.hashrate_low_pct = settings.fleet_alert_hashrate_low_pct
        self.reject_pct = settings.fleet_alert_reject_pct
        self.hw_per_min = settings.fleet_alert_hw_errors_per_min
        self.expected_pool = _pool_key(settings.fleet_expected_pool_url)
        self.expected_worker = (settings.fleet_expected_worker or "").strip() or None
        overrides = {k.strip().lower(): v for k, v in settings.fleet_alert_thresholds.items()}
        self._default = {**DEFAULT_THRESHOLDS, **overrides.pop("default", {})}
        self._models = {model: {**self._default, **values} for model, values in overrides.items()}

    def thresholds(self, model: str | None) -> dict[str, float]:
        return self._models.get((model or "").strip().lower(), self._default)

    def evaluate(
        self,
        snap: MinerSnapshot,
        previous: tuple[float, int | None] | None = None,
        now: float = 0.0,
    ) -> tuple[dict[str, Condition], frozenset[str]]:
        """(conditions that hold, rules that could be judged) for one poll.

        ``previous`` is (poll time, hardware errors) of the previous poll, for the rate rule.
        """
        if snap.status in ("offline", "error"):
            why = snap.error or snap.status
            word = "offline" if snap.status == "offline" else "not answering properly"
            found = {"offline": Condition("offline", "critical", f"miner {word}: {why}")}
            return found, frozenset({"offline"})
        limits = self.thresholds(snap.model)
        found: dict[str, Condition] = {}
        self._temperatures(snap, limits, found)
        if snap.status == "sleeping":
            return found, _SLEEPING_RULES
        self._hashrate(snap, found)
        self._boards(snap, limits, found)
        self._fans(snap, limits, found)
        self._pools(snap, found)
        self._rates(snap, previous, now, found)
        return found, frozenset(RULES)

    def _temperatures(
        self, snap: MinerSnapshot, limits: dict[str, float], found: dict[str, Condition]
    ) -> None:
        chip, board = snap.temp_chip_max_c, snap.temp_board_max_c
        if chip is not None and chip > limits["chip_max_c"]:
            found["overheat"] = Condition(
                "overheat",
                "critical",
                f"chip temperature {chip:.0f} °C above {limits['chip_max_c']:.0f} °C",
                chip,
                limits["chip_max_c"],
            )
        elif board is not None and board > limits["board_max_c"]:
            found["overheat"] = Condition(
                "overheat",
                "critical",
                f"board temperature {board:.0f} °C above {limits['board_max_c']:.0f} °C",
                board,
                limits["board_max_c"],
            )
        inlet = snap.temp_inlet_c
        if inlet is not None and inlet < limits["inlet_min_c"]:
            found["cold_inlet"] = Condition(
                "cold_inlet",
                "warning",
                f"inlet air {inlet:.0f} °C below {limits['inlet_min_c']:.0f} °C",
                inlet,
                limits["inlet_min_c"],
            )

    def _hashrate(self, snap: MinerSnapshot, found: dict[str, Condition]) -> None:
        expected = snap.hashrate_expected_ths
        rate = snap.hashrate_avg_ths if snap.hashrate_avg_ths is not None else snap.hashrate_ths
        if not expected or rate is None:
            return
        floor = expected * (1 - self.hashrate_low_pct / 100)
        if rate < floor:
            found["hashrate_low"] = Condition(
                "hashrate_low",
                "warning",
                f"hashrate {rate:.1f} TH/s is {100 * (1 - rate / expected):.0f}% below the "
                f"expected {expected:.1f} TH/s",
                round(rate, 3),
                round(floor, 3),
            )

    def _boards(
        self, snap: MinerSnapshot, limits: dict[str, float], found: dict[str, Condition]
    ) -> None:
        expected_boards = limits.get("boards")
        dead = [b.index for b in snap.boards if b.chips_ok == 0]
        failed = sum(b.chips_failed or 0 for b in snap.boards if b.chips_ok != 0)
        missing = int(expected_boards) - len(snap.boards) if expected_boards else 0
        if dead or missing > 0:
            parts = [f"board {i} has no working chips" for i in dead]
            if missing > 0:
                parts.append(f"{missing} of {int(expected_boards or 0)} boards missing")
            found["board_failure"] = Condition(
                "board_failure", "critical", "; ".join(parts), float(len(dead) + max(missing, 0))
            )
        elif failed:
            found["board_failure"] = Condition(
                "board_failure", "warning", f"{failed} failed chips", float(failed), 0.0
            )

    def _fans(
        self, snap: MinerSnapshot, limits: dict[str, float], found: dict[str, Condition]
    ) -> None:
        minimum = limits["fan_min_rpm"]
        slow = [rpm for rpm in snap.fans_rpm if rpm < minimum]
        if snap.fans_rpm and slow:
            found["fan_failure"] = Condition(
                "fan_failure",
                "critical",
                f"{len(slow)} of {len(snap.fans_rpm)} fans below {minimum:.0f} rpm",
                float(min(slow)),
                minimum,
            )

    def _pools(self, snap: MinerSnapshot, found: dict[str, Condition]) -> None:
        if snap.pools and not any(p.status == "alive" for p in snap.pools):
            found["pools_dead"] = Condition(
                "pools_dead", "critical", f"all {len(snap.pools)} pools are dead or disabled"
            )
            return
        active = next((p for p in snap.pools if p.active), None)
        if active is None:
            return
        if self.expected_pool and _pool_key(active.url) != self.expected_pool:
            found["wrong_pool"] = Condition(
                "wrong_pool", "warning", f"mining on {active.url}, expected {self.expected_pool}"
            )
        if self.expected_worker and not _worker_matches(active.user, self.expected_worker):
            found["wrong_worker"] = Condition(
                "wrong_worker",
                "warning",
                f"worker {active.user!r} does not belong to {self.expected_worker!r}",
            )

    def _rates(
        self,
        snap: MinerSnapshot,
        previous: tuple[float, int | None] | None,
        now: float,
        found: dict[str, Condition],
    ) -> None:
        accepted, rejected = snap.accepted, snap.rejected
        if accepted is not None and rejected is not None and accepted + rejected >= 100:
            pct = 100 * rejected / (accepted + rejected)
            if pct > self.reject_pct:
                found["reject_rate"] = Condition(
                    "reject_rate",
                    "warning",
                    f"{pct:.1f}% of shares rejected",
                    round(pct, 3),
                    self.reject_pct,
                )
        if previous is None or snap.hardware_errors is None or previous[1] is None:
            return
        minutes = (now - previous[0]) / 60
        delta = snap.hardware_errors - previous[1]
        if minutes <= 0 or delta < 0:  # counters reset on restart
            return
        per_min = delta / minutes
        if per_min > self.hw_per_min:
            found["hw_error_rate"] = Condition(
                "hw_error_rate",
                "warning",
                f"{per_min:.0f} hardware errors per minute",
                round(per_min, 2),
                self.hw_per_min,
            )


def _pool_key(url: str | None) -> str | None:
    """Compare pools by host:port, whatever the scheme spelling (stratum+tcp://...)."""
    if not url or not url.strip():
        return None
    text = url.strip().lower()
    return text.split("://", 1)[-1].rstrip("/")


def _worker_matches(user: str | None, expected: str) -> bool:
    if user is None:
        return False
    return user == expected or ("." not in expected and user.split(".", 1)[0] == expected)


class AlertBook:
    """Open alerts and the streak counters behind flapping suppression."""

    def __init__(self, raise_after: int, clear_after: int) -> None:
        self.raise_after = raise_after
        self.clear_after = clear_after
        self.open: dict[tuple[str, str], Alert] = {}
        self._streaks: dict[tuple[str, str], list[int]] = {}  # [holds, absent]
        self._open_by_miner: dict[str, int] = {}

    def load(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.open[(alert.miner_id, alert.rule)] = alert
            self._open_by_miner[alert.miner_id] = self._open_by_miner.get(alert.miner_id, 0) + 1

    def open_count(self, miner_id: str) -> int:
        return self._open_by_miner.get(miner_id, 0)

    def total_open(self) -> int:
        return len(self.open)

    def observe(
        self,
        miner_id: str,
        found: dict[str, Condition],
        judged: frozenset[str],
        now: datetime,
        out: SweepAlerts,
    ) -> None:
        """Feed one poll's conditions; appends raised/cleared alerts to ``out``."""
        streaks = self._streaks
        for rule in judged:
            key = (miner_id, rule)
            condition = found.get(rule)
            streak = streaks.get(key)
            alert = self.open.get(key)
            if condition is not None:
                if streak is None:
                    streak = streaks[key] = [0, 0]
                streak[0] += 1
                streak[1] = 0
                if alert is None and streak[0] >= self.raise_after:
                    alert = Alert(
                        id=0,
                        miner_id=miner_id,
                        rule=rule,
                        severity=condition.severity,
                        state="raised",
                        message=condition.message,
                        value=condition.value,
                        threshold=condition.threshold,
                        raised_at=now,
                    )
                    self.open[key] = alert
                    self._open_by_miner[miner_id] = self.open_count(miner_id) + 1
                    out.raised.append(alert)
                elif alert is not None:  # keep the live reading on the open alert
                    alert.message, alert.value = condition.message, condition.value
                continue
            if alert is None:
                streaks.pop(key, None)
                continue
            if streak is None:
                streak = streaks[key] = [0, 0]
            streak[0] = 0
            streak[1] += 1
            if streak[1] >= self.clear_after:
                alert.state = "cleared"
                alert.cleared_at = now
                del self.open[key]
                streaks.pop(key, None)
                self._open_by_miner[miner_id] = self.open_count(miner_id) - 1
                out.cleared.append(alert)

    def forget_miner(self, miner_id: str) -> None:
        for key in [k for k in self._streaks if k[0] == miner_id]:
            del self._streaks[key]

    def acknowledged(self, alert: Alert) -> None:
        """Mirror an acknowledgement made through the API onto the open record."""
        record = self.open.get((alert.miner_id, alert.rule))
        if record is not None and record.id == alert.id:
            record.state = alert.state
            record.acknowledged_at = alert.acknowledged_at
            record.acknowledged_by = alert.acknowledged_by
            record.ack_note = alert.ack_note
