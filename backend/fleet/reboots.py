"""Restarts we sent: while one lasts, the miner being dark is expected, not an outage."""

from __future__ import annotations

from dataclasses import dataclass

from backend.fleet.normalize import MinerSnapshot


@dataclass(slots=True)
class RebootWindow:
    until: float  # wall time: dark after this is an outage again
    why: str  # "a restart by <actor>"
    sent_at: float
    dark: bool = False  # seen dark (or half up) since: answering again ends the window


class RebootWindows(dict[str, RebootWindow]):
    """Open windows by miner id."""

    def expect(self, miner_id: str, why: str, now: float, grace_s: float) -> None:
        self[miner_id] = RebootWindow(now + grace_s, why, now)

    def hold(self, miner_id: str, snap: MinerSnapshot, now: float, interval_s: float) -> bool:
        """True while this poll is the reboot (dark, or half up: RPC answering before the
        hashboards): ``snap.error`` says so and no offline rule may be judged. A window ends
        when it runs out, or when the miner answers after being seen dark or with an uptime
        that started after the restart was sent."""
        window = self[miner_id]
        if now >= window.until:
            del self[miner_id]  # the window is over: judge it as any other
            return False
        if snap.status in ("online", "sleeping"):
            uptime = snap.uptime_s
            booted = uptime is not None and uptime <= now - window.sent_at + interval_s
            if window.dark or booted:
                del self[miner_id]  # back from the reboot
            return False  # (or not gone down yet: some firmwares wait a few seconds)
        window.dark = True
        left = max(1, round(window.until - now))
        snap.error = f"rebooting after {window.why}; offline alert held for {left}s more"
        return True
