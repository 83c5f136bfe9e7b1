"""How a restart command's reboot window ends, poll by poll (the verification the poller hands
to the command): a miner seen back with an uptime younger than the restart rebooted; one whose
uptime is older did not, however soon it was polled; the poll that ends the window still counts."""

from __future__ import annotations

from backend.fleet.normalize import MinerSnapshot
from backend.fleet.reboots import RebootSeen, RebootWindows

SENT, GRACE, INTERVAL = 1_000.0, 600.0, 10.0


def polled(status: str, uptime: int | None = None) -> MinerSnapshot:
    snap = MinerSnapshot(status="offline" if status == "dark" else "online")  # type: ignore[arg-type]
    snap.uptime_s = uptime
    return snap


def run(*polls: tuple[float, str, int | None]) -> list[RebootSeen]:
    windows = RebootWindows()
    windows.expect("m0", "a restart by k", SENT, GRACE, "cmd_1")
    for at, status, uptime in polls:
        if "m0" in windows:
            windows.hold("m0", polled(status, uptime), SENT + at, INTERVAL)
    return windows.take_ended()


def test_back_with_a_fresh_uptime_rebooted() -> None:
    [seen] = run((2, "dark", None), (40, "dark", None), (95, "online", 30))
    assert (seen.answered, seen.booted, seen.uptime_s, seen.after_s) == (True, True, 30, 95)


def test_an_uptime_older_than_the_restart_is_no_reboot_however_soon_it_is_polled() -> None:
    """Uptime 10 s two seconds after the restart: it came up before the restart was sent."""
    [seen] = run((2, "online", 10))
    assert (seen.answered, seen.booted) == (True, False)


def test_seen_back_on_the_poll_that_ends_the_window() -> None:
    [seen] = run((2, "dark", None), (601, "online", 5))
    assert (seen.answered, seen.booted, seen.uptime_s) == (True, True, 5)


def test_rebooted_between_two_polls_and_back_at_the_end_of_the_window() -> None:
    [seen] = run((2, "online", 99_999), (601, "online", 3))
    assert (seen.answered, seen.booted) == (True, True)


def test_still_dark_when_the_window_ends() -> None:
    [seen] = run((2, "dark", None), (601, "dark", None))
    assert (seen.answered, seen.booted) == (False, False)


def test_answering_all_along_without_a_reboot() -> None:
    [seen] = run((2, "online", 99_999), (300, "online", 100_297), (601, "online", 100_598))
    assert (seen.answered, seen.booted) == (True, False)
