"""The console's plain data model: what the backend last told us, and when.

It also holds the console's one rule for two copies of the same thing (a REST snapshot and a
streamed event, or two events): the copy with the newer stamp wins, and on a tie, or when a
stamp is unknown, the copy that arrived later (`later`). `newest` applies it to a single value,
`merge_by_id` to a collection; both validate streamed data with the contract model first, so a
streamed row that does not fit is skipped and never hides the snapshot or crashes a screen.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hashinsight_tui.client import HealthReport, Integration, KeyInfo, StreamEvent

RECENT_EVENTS_PER_CHANNEL = 500
ENTITY_KEYS = ("id", "name", "key", "venue", "symbol")
# Whole-sweep events (one row per miner): each one counts, so they are queued in order for the
# screen that applies them instead of kept as "latest" or in the recent-events list, where a
# quiet channel would keep hundreds of them (megabytes each at 10,000 miners) alive.
BULK_EVENTS = frozenset({"fleet.readings"})
BULK_QUEUE = 16
T = TypeVar("T")
Row = TypeVar("Row", bound=BaseModel)
# What a malformed streamed value raises when parsed (ValidationError is a ValueError).
UNFIT = (KeyError, TypeError, ValueError)


def entity_key(event: StreamEvent) -> str:
    """Which thing an event is about, so the latest state per thing can be kept."""
    for name in ENTITY_KEYS:
        value = event.data.get(name)
        if value is not None:
            return str(value)
    return event.event


@dataclass
class Store:
    url: str = ""
    state: str = "connecting"
    detail: str = ""
    retry_in_s: float | None = None
    key: KeyInfo | None = None
    health: HealthReport | None = None
    integrations: dict[str, Integration] = field(default_factory=dict)
    # REST snapshots fetched by screens, by name (e.g. "prices.current"), with when they arrived.
    snapshots: dict[str, Any] = field(default_factory=dict)
    snapshot_at: dict[str, float] = field(default_factory=dict)
    # Streamed state: channel -> entity key -> latest data; and the recent events of each channel.
    latest: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    recent: dict[str, deque[StreamEvent]] = field(default_factory=dict)
    updated_at: float | None = None
    events_applied: int = 0
    # Bulk events in arrival order, numbered (`bulk_seq` is the newest number) so a screen
    # applies each once; a screen that falls BULK_QUEUE behind reloads instead.
    bulk: deque[tuple[int, StreamEvent]] = field(default_factory=lambda: deque(maxlen=BULK_QUEUE))
    bulk_seq: int = 0
    # The last event of each (channel, event type) and when it arrived (this machine's clock),
    # so a screen finds it however many other events the channel carried since.
    last_event: dict[tuple[str, str], tuple[float, StreamEvent]] = field(default_factory=dict)

    def set_health(self, report: HealthReport) -> None:
        self.health = report
        self.integrations = {item.name: item for item in report.integrations}
        self.updated_at = time.time()

    def set_snapshots(self, values: dict[str, Any]) -> None:
        now = time.time()
        self.snapshots.update(values)
        self.snapshot_at.update(dict.fromkeys(values, now))
        self.updated_at = now

    def apply(self, events: list[StreamEvent]) -> None:
        now = time.time()
        for event in events:
            self.last_event[(event.channel, event.event)] = (now, event)
            if event.event in BULK_EVENTS:
                self.bulk_seq += 1
                self.bulk.append((self.bulk_seq, event))
                self.events_applied += 1
                continue
            if event.channel == "health" and event.event == "health.update":
                try:
                    item = Integration.model_validate(event.data)
                except ValidationError:
                    pass  # not an integration's state: kept as an event only
                else:
                    self.integrations[item.name] = item
            self.latest.setdefault(event.channel, {})[entity_key(event)] = event.data
            self.recent.setdefault(event.channel, deque(maxlen=RECENT_EVENTS_PER_CHANNEL)).append(
                event
            )
            self.events_applied += 1
        if events:
            self.updated_at = now
            if self.health is not None:
                items = sorted(self.integrations.values(), key=lambda i: i.name)
                self.health = self.health.model_copy(update={"integrations": items})

    def bulk_since(self, seq: int) -> tuple[list[StreamEvent], bool]:
        """Bulk events numbered after `seq`, and whether any were already dropped."""
        events = [event for number, event in self.bulk if number > seq]
        dropped = bool(self.bulk) and self.bulk[0][0] > seq + 1
        return events, dropped

    def age_s(self) -> float | None:
        return None if self.updated_at is None else time.time() - self.updated_at

    def frozen(self) -> Store:
        """A copy that later news does not change: what a paused console shows, on whichever
        screen, while this store goes on taking the stream (its containers are copied, the
        values in them are replaced, never changed in place)."""
        return replace(
            self,
            integrations=dict(self.integrations),
            snapshots=dict(self.snapshots),
            snapshot_at=dict(self.snapshot_at),
            latest={channel: dict(items) for channel, items in self.latest.items()},
            recent={
                channel: deque(events, maxlen=events.maxlen)
                for channel, events in self.recent.items()
            },
            bulk=deque(self.bulk, maxlen=self.bulk.maxlen),
            last_event=dict(self.last_event),
        )


def later(new: Any, old: Any) -> bool:
    """Whether a copy stamped `new` that arrived after one stamped `old` replaces it."""
    return new is None or old is None or new >= old


def newest(
    store: Store,
    snapshot: str,
    channel: str,
    event: str,
    parse: Callable[[dict[str, Any]], T],
    stamp: Callable[[T], Any],
) -> T | None:
    """The REST snapshot `snapshot` or the last streamed `event`, whichever is newer.

    `parse` turns the event's data into the snapshot's type (a contract model's
    `model_validate`); an event it refuses is skipped. `stamp` reads when a value was true.
    """
    rest = store.snapshots.get(snapshot)
    last = store.last_event.get((channel, event))
    value: T | None = None
    if last is not None:
        try:
            value = parse(last[1].data)
        except UNFIT:
            value = None
    if value is None or rest is None:
        return rest if value is None else value
    assert last is not None
    if last[0] >= store.snapshot_at.get(snapshot, 0.0):
        return value if later(stamp(value), stamp(rest)) else rest
    return rest if later(stamp(rest), stamp(value)) else value


def merge_by_id(
    rest: Iterable[Row | Mapping[str, Any]],
    streamed: Iterable[Mapping[str, Any]],
    model: type[Row],
    stamp: Callable[[Row], Any] = lambda _row: None,
    key: Callable[[Row], Hashable] = lambda row: row.id,  # type: ignore[attr-defined]
) -> list[Row]:
    """One row per `key`: the REST row or the streamed one, whichever is newer; largest key first.

    Streamed rows come after the REST ones (they arrived later), in arrival order; a row that
    does not fit `model` is skipped. Without a `stamp` the later arrival always wins.
    """
    rows: dict[Hashable, Row] = {}
    for item in [*rest, *streamed]:
        if isinstance(item, model):
            row = item
        else:
            try:
                row = model.model_validate(item)
            except UNFIT:
                continue
        current = rows.get(key(row))
        if current is None or later(stamp(row), stamp(current)):
            rows[key(row)] = row
    return [rows[k] for k in sorted(rows, reverse=True)]  # type: ignore[type-var]
