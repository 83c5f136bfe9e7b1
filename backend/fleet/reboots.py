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
    command_id: str | None = None  # the restart command whose effect this window shows


@dataclass(frozen=True, slots=True)
class RebootSeen:
    """How a restart command's window ended, for its verification: a real miner takes minutes
    to come back, far longer than a command's read-back waits, so the poller finishes it."""

    command_id: str
    miner_id: str
    answered: bool  # answered again (False: the window ran out with the miner dark)
    booted: bool  # answered with an uptime younger than the restart
    after_s: float  # since the restart was sent
    uptime_s: int | None  # the uptime it answered with, when it reports one


class RebootWindows(dict[str, RebootWindow]):
    """Open windows by miner id; ``ended`` collects the commands' windows that closed."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[RebootSeen] = []

    def expect(
        self, miner_id: str, why: str, now: float, grace_s: float, command_id: str | None = None
    ) -> None:
        self[miner_id] = RebootWindow(now + grace_s, why, now, command_id=command_id)

    def take_ended(self) -> list[RebootSeen]:
        ended, self.ended = self.ended, []
        return ended

    def _end(
        self, miner_id: str, now: float, *, answered: bool, booted: bool, uptime: int | None
    ) -> None:
        window = self.pop(miner_id)
        if window.command_id is not None:
            after = now - window.sent_at
            seen = RebootSeen(window.command_id, miner_id, answered, booted, after, uptime)
            self.ended.append(seen)

    def hold(self, miner_id: str, snap: MinerSnapshot, now: float, interval_s: float) -> bool:
        """True while this poll is the reboot (dark, or half up: RPC answering before the
        hashboards): ``snap.error`` says so and no offline rule may be judged. A window ends
        when it runs out, or when the miner answers after being seen dark or with an uptime
        that started after the restart was sent."""
        window = self[miner_id]
        if snap.status in ("online", "sleeping"):
            uptime, since = snap.uptime_s, now - window.sent_at
            if window.dark or (uptime is not None and uptime <= since + interval_s):
                # back from the reboot; it rebooted only if it booted after the restart went
                # out (the interval's slack above only ends the window sooner)
                rebooted = uptime is not None and uptime <= since
                self._end(miner_id, now, answered=True, booted=rebooted, uptime=uptime)
            elif now >= window.until:  # it kept answering all along: no reboot seen
                self._end(miner_id, now, answered=True, booted=False, uptime=uptime)
            return False  # (or not gone down yet: some firmwares wait a few seconds)
        if now >= window.until:
            # still dark when the window is over: judged as any other from now on
            self._end(miner_id, now, answered=False, booted=False, uptime=None)
            return False
        window.dark = True
        left = max(1, round(window.until - now))
        snap.error = f"rebooting after {window.why}; offline alert held for {left}s more"
        return True
