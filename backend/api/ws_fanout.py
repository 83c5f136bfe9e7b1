"""WebSocket fan-out: one bus subscription for all `/ws` clients, one encoding per event.

The hub holds the only bus subscription of the WebSocket side and an index of clients by channel.
For each event it builds the frame once (`EncodedEvent`) and offers it to the clients of that
channel whose filters pass; no task wakes per client per event. Under load the hub coalesces:
when its last fan-out took longer than the loop then stayed idle and events come less than
MAX_PAUSE_S apart, it waits for about one more event (as long as that fan-out took or the usual
gap, at most MAX_PAUSE_S) and sends every event gathered meanwhile in one write per client, as
consecutive frames (the wire shape does not change). The cost of a fan-out is mostly
one `send` per client, so this divides the system calls by the events per write; a light load
never waits. A client's `Outbox` writes the
frame straight to its transport while the transport keeps up; otherwise it queues the frame
(at most `ws_queue_size` of them) for the client's writer task, which sends the backlog in one
write once the transport drains. A client whose queue overflows is cut (closed with 4008 by its
writer task); the frames it missed count as bus drops.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from backend.api.ws_wire import EncodedEvent, FrameWriter
from backend.core.bus import Event, EventBus, SubscriptionClosed

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_PAUSE_S = 0.03


class Outbox:
    """One connection's bounded queue of encoded frames; `offer` never blocks."""

    __slots__ = ("cut", "frames", "last_sent", "maxsize", "shutting_down", "wake", "writer")

    def __init__(self, writer: FrameWriter | None, maxsize: int) -> None:
        self.writer = writer  # None: this server has no frame extension; send through ASGI
        self.frames: deque[EncodedEvent] = deque()
        self.maxsize = maxsize
        self.cut = False
        self.shutting_down = False
        self.wake = asyncio.Event()
        self.last_sent = time.monotonic()

    def offer(self, frames: list[EncodedEvent], wire: bytes, now: float) -> bool:
        """Deliver or queue consecutive frames (`wire` is their bytes joined). A burst larger
        than the queue cuts the client as a queue overflow would."""
        if self.cut:
            return False
        writer = self.writer
        fits = len(self.frames) + len(frames) <= self.maxsize
        if fits and writer is not None and not self.frames and writer.try_write(wire):
            self.last_sent = now
            return True
        if not fits:
            self.cut = True
            self.frames.clear()
            self.wake.set()
            return False
        self.frames.extend(frames)
        self.wake.set()
        return True

    def shutdown(self) -> None:
        self.shutting_down = True
        self.wake.set()

    async def flush(self, send_text: Callable[[str], Awaitable[None]]) -> None:
        """Send what is queued: in one write per drain of the transport, or frame by frame
        through ASGI."""
        writer = self.writer
        while self.frames and not self.cut:
            if writer is not None:
                if writer.gone:
                    self.frames.clear()
                    return
                if not await writer.wait_writable(lambda: self.cut or self.shutting_down):
                    return
                data = b"".join(frame.wire for frame in self.frames)
                self.frames.clear()
                writer.write(data)
            else:
                await send_text(self.frames.popleft().text)
            self.last_sent = time.monotonic()


class Subscriber(Protocol):
    """What the hub needs of a connected client."""

    outbox: Outbox
    channels: set[str]
    filters: dict[str, dict[str, set[str]]]

    def passes(self, event: Event) -> bool: ...


class Hub:
    """The WebSocket side's one bus subscription and its index of clients by channel."""

    def __init__(self, bus: EventBus, queue_size: int) -> None:
        self._bus = bus
        self.by_channel: dict[str, set[Subscriber]] = {}
        self.by_key: dict[str, set[Subscriber]] = {}
        # Only channels somebody follows reach the hub's queue; the hub never waits on a
        # client, so this queue stays short unless the process itself is starved.
        self._subscription = bus.subscribe(
            set(), maxsize=max(10_000, 4 * queue_size), name="websocket fan-out"
        )
        self.closed = self._subscription.closed  # a hub made while the backend stops
        self.fanouts = 0  # passes of the hub over its clients
        self.events = 0  # events fanned out
        self.writes = 0  # frames or runs of frames handed to a client
        self._task = asyncio.create_task(self._run(), name="websocket fan-out")

    def stats(self) -> dict[str, int]:
        return {"fanouts": self.fanouts, "events": self.events, "writes": self.writes}

    def add(self, key_id: str, client: Subscriber) -> None:
        self.by_key.setdefault(key_id, set()).add(client)

    def remove(self, key_id: str, client: Subscriber) -> None:
        self.unsubscribe(client, list(client.channels))
        clients = self.by_key.get(key_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self.by_key[key_id]

    def channels_of_key(self, key_id: str, besides: Subscriber) -> int:
        """Channel subscriptions the key holds on its other connections of this instance."""
        return sum(len(c.channels) for c in self.by_key.get(key_id, ()) if c is not besides)

    def subscribe(self, client: Subscriber, channels: Iterable[str]) -> None:
        wanted = self._subscription.channels
        assert wanted is not None
        for channel in channels:
            client.channels.add(channel)
            self.by_channel.setdefault(channel, set()).add(client)
            wanted.add(channel)

    def unsubscribe(self, client: Subscriber, channels: Iterable[str]) -> None:
        wanted = self._subscription.channels
        assert wanted is not None
        for channel in channels:
            client.channels.discard(channel)
            client.filters.pop(channel, None)
            clients = self.by_channel.get(channel)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del self.by_channel[channel]
                    wanted.discard(channel)

    def deliver(self, events: list[Event]) -> None:
        """Fan out events published together: each client gets its share in one write, in
        publish order; the frames of an event and their joined bytes are built once."""
        channel = events[0].channel
        if any(event.channel != channel for event in events):
            self._deliver_mixed(events)
            return
        clients = self.by_channel.get(channel)
        if not clients:
            return
        frames = [EncodedEvent(event) for event in events]
        wire = frames[0].wire if len(frames) == 1 else b"".join(f.wire for f in frames)
        now = time.monotonic()
        missed = 0
        self.fanouts += 1
        self.events += len(events)
        self.writes += len(clients)
        for client in clients:
            if client.filters and channel in client.filters:
                share = [f for f, e in zip(frames, events, strict=True) if client.passes(e)]
                if share and not client.outbox.offer(share, b"".join(f.wire for f in share), now):
                    missed += len(share)
            elif not client.outbox.offer(frames, wire, now):
                missed += len(frames)
        if missed:
            self._bus.dropped_total += missed

    def _deliver_mixed(self, events: list[Event]) -> None:
        shares: dict[Subscriber, list[EncodedEvent]] = {}
        for event in events:
            clients = self.by_channel.get(event.channel)
            if not clients:
                continue
            frame = EncodedEvent(event)
            for client in clients:
                if client.filters and not client.passes(event):
                    continue
                share = shares.get(client)
                if share is None:
                    shares[client] = [frame]
                else:
                    share.append(frame)
        joined: dict[tuple[int, ...], bytes] = {}  # clients with the same share, one join
        now = time.monotonic()
        self.fanouts += 1
        self.events += len(events)
        self.writes += len(shares)
        missed = 0
        for client, share in shares.items():
            ids = tuple(map(id, share))
            wire = joined.get(ids)
            if wire is None:
                wire = joined[ids] = b"".join(frame.wire for frame in share)
            if not client.outbox.offer(share, wire, now):
                missed += len(share)
        if missed:
            self._bus.dropped_total += missed

    async def _run(self) -> None:
        subscription = self._subscription
        took = 0.0  # how long the last fan-out took
        finished = arrived = time.perf_counter()
        gap = 1.0  # moving average of the time between events
        try:
            while True:
                first = await subscription.get()
                now = time.perf_counter()
                gap = 0.8 * gap + 0.2 * (now - arrived)
                arrived = now
                if took > now - finished and gap < MAX_PAUSE_S:  # busy, more on its way
                    await asyncio.sleep(min(max(took, gap), MAX_PAUSE_S))
                started = time.perf_counter()
                self.deliver([first, *subscription.poll()])
                finished = time.perf_counter()
                took = finished - started
        except SubscriptionClosed:
            pass
        finally:
            self.closed = True
            for clients in self.by_key.values():
                for client in clients:
                    client.outbox.shutdown()
