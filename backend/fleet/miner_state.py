"""What the poller keeps about one miner between sweeps (10,000 of them: slots, no dict)."""

from __future__ import annotations

from typing import Any

from backend.fleet.client import CgminerClient
from backend.fleet.inventory import MinerSpec
from backend.fleet.normalize import MinerSnapshot

# What a published miner.update was made of: the values compared exactly, the readings compared
# with a deadband, and their deadbands (sweep_events.fingerprint builds it).
Fingerprint = tuple[tuple[Any, ...], tuple[float | None, ...], tuple[float, ...]]


class MinerState:
    """One miner's client, last readings, schedule, money, rollup bucket and last publish."""

    __slots__ = (
        "acc",
        "client",
        "data",
        "failures",
        "family",
        "fingerprint",
        "first_seen",
        "last_seen",
        "money",
        "next_due",
        "polled_at",
        "prev_hw",
        "reading",
        "snap",
        "spec",
    )

    def __init__(self, spec: MinerSpec, client: CgminerClient, now: float) -> None:
        self.spec = spec
        self.client = client
        self.family: str | None = None
        self.snap: MinerSnapshot | None = None
        # This sweep's answer until the sweep is digested: readers (the API) never see a new
        # reading labelled with the previous sweep's time.
        self.reading: MinerSnapshot | None = None
        self.last_seen: float | None = None
        self.polled_at: float | None = None
        self.first_seen = now
        self.failures = 0  # consecutive polls unanswered; see reachability.Backoff
        self.next_due = 0.0
        self.fingerprint: Fingerprint | None = None  # as last published
        self.data: dict[str, Any] | None = None
        self.money: tuple[float | None, float | None, float | None] = (None, None, None)
        self.prev_hw: tuple[float, int | None] | None = None
        self.acc: list[Any] | None = None  # rollup accumulator, see sweep_rows.accumulate

    @property
    def status(self) -> str:
        return self.snap.status if self.snap is not None else "offline"

    def take_reading(self, now: float) -> MinerSnapshot:
        """This sweep's answer becomes the miner's current one, stamped ``now``."""
        snap = self.reading
        assert snap is not None
        known = self.snap
        if snap.model is None and known is not None and snap.status in ("offline", "error"):
            # a miner that does not answer is still the model it was: identity, not a reading
            snap.model, snap.firmware = known.model, snap.firmware or known.firmware
        self.snap, self.reading = snap, None
        self.polled_at = now
        return snap
