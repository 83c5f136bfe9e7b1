"""In-process publish/subscribe with a bounded queue per subscriber.

A slow subscriber never stalls a publisher: when its queue is full the oldest event is dropped (or
the subscriber is cut, for WebSocket clients that must learn they fell behind), and every drop is
counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from hashinsight_contract.events import EVENTS

OverflowPolicy = Literal["drop_oldest", "cut"]


@dataclass(frozen=True, slots=True)
class Event:
    """One typed event: `channel` is what subscribers pick, `type` says what happened."""

    channel: str
    type: str
    data: dict[str, Any]
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "event": self.type, "data": self.data, "ts": self.ts}


class SubscriptionClosed(Exception):
    """Raised by `Subscription.get` once the subscription is closed or was cut."""


class Subscription:
    """A subscriber's bounded view of the bus; iterate it or `await get()`."""

    def __init__(
        self,
        bus: EventBus,
        channels: Iterable[str] | None,
        maxsize: int,
        policy: OverflowPolicy,
        name: str,
    ) -> None:
        self._bus = bus
        self.channels: set[str] | None = set(channels) if channels is not None else None
        self.policy = policy
        self.name = name
        self.dropped = 0
        self.cut = False
        self.closed = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)

    def wants(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def _offer(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
            return
        except asyncio.QueueFull:
            pass
        self.dropped += 1
        self._bus.dropped_total += 1
        if self.policy == "cut":
            self.cut = True
            self.close()
            return
        self._queue.get_nowait()
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        if self.closed and self._queue.empty():
            raise SubscriptionClosed(self.name)
        item = await self._queue.get()
        if item is None:
            raise SubscriptionClosed(self.name)
        return item

    def poll(self) -> list[Event]:
        """The events waiting now, without waiting: for a consumer that checks at its own pace
        instead of running a task."""
        events: list[Event] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                events.append(item)
        return events

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._remove(self)
        # Wake a waiting reader; make room first if the queue is full.
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                self._queue.get_nowait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                yield await self.get()
            except SubscriptionClosed:
                return


class EventBus:
    """The one event bus. `publish` is synchronous and never blocks."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._forwarders: list[Callable[[Event], None]] = []
        self.published_total = 0
        self.dropped_total = 0
        self.last_by_channel: dict[str, Event] = {}
        self.closed = False

    def emit(self, type_: str, payload: BaseModel) -> Event:
        """Publish an event the contract defines, on its channel, from its payload model.

        The one way features publish: the channel and the payload's shape come from
        `hashinsight_contract.events.EVENTS`, so an event no client can parse cannot be sent.
        The payload must be that very model, not a subclass: a subclass's extra fields (a
        login log entry's IP, say) would go out with it.
        """
        spec = EVENTS.get(type_)
        if spec is None:
            raise KeyError(f"event type {type_!r} is not in the contract's EVENTS")
        if type(payload) is not spec.payload:
            raise TypeError(
                f"{type_} carries {spec.payload.__name__}, not {type(payload).__name__}"
            )
        return self.publish(spec.channel, type_, payload.model_dump(mode="json"))

    def publish(self, channel: str, type_: str, data: dict[str, Any]) -> Event:
        """Deliver to local subscribers and hand to forwarders (e.g. to other processes).

        Features call `emit`; this is for data already in its wire form: the poller's
        per-sweep events (thousands of rows, checked against the contract by tests rather
        than built as models), a bridge's events from another process, internal channels.
        """
        event = Event(channel, type_, data)
        self.published_total += 1
        self.deliver_local(event)
        for forward in self._forwarders:
            forward(event)
        return event

    def deliver_local(self, event: Event) -> None:
        """Deliver an event to this process's subscribers only (what a bridge calls)."""
        self.last_by_channel[event.channel] = event
        for subscriber in list(self._subscribers):
            if subscriber.wants(event.channel):
                subscriber._offer(event)

    def add_forwarder(self, forward: Callable[[Event], None]) -> None:
        """`forward(event)` is called for each locally published event; it must not block."""
        self._forwarders.append(forward)

    def remove_forwarder(self, forward: Callable[[Event], None]) -> None:
        if forward in self._forwarders:
            self._forwarders.remove(forward)

    def subscribe(
        self,
        channels: Iterable[str] | None = None,
        *,
        maxsize: int = 1000,
        policy: OverflowPolicy = "drop_oldest",
        name: str = "subscriber",
    ) -> Subscription:
        subscription = Subscription(self, channels, maxsize, policy, name)
        self._subscribers.append(subscription)
        if self.closed:  # subscribing while the process stops: the reader is told at once
            subscription.close()
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def close(self) -> None:
        self.closed = True
        for subscriber in list(self._subscribers):
            subscriber.close()

    def stats(self) -> dict[str, int]:
        return {
            "subscribers": len(self._subscribers),
            "published": self.published_total,
            "dropped": self.dropped_total,
        }
