"""An ordered chain of providers for one quantity, with the last accepted value as final fallback.

Each round asks the providers in order until one gives a value that passes the guard; a provider
that errors (HTTP, timeout, open circuit, malformed payload) or answers something absurd is
skipped and recorded in the round's attempts. When all fail, the last accepted value is returned
with `via="cache"`, which callers must present as stale, with its age.

Given a shared cache (Redis with `REDIS_URL`), every accepted value is also written there, and a
round where every provider failed takes the newest of its own last value and the one another
instance accepted, so one instance's outage does not turn its answers stale while another instance
still reaches a provider. A process that does not hold the providers' lease (`leader.py`) only
`follow()`s: it takes the shared value without calling any provider.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from backend.core.clock import Clock
from backend.core.http import ProviderError
from backend.core.shared_state import SharedCache
from backend.providers.values import Attempt, Reading, Via

T = TypeVar("T")
log = logging.getLogger("hashinsight.market")

# (value, as_of epoch seconds) from one provider
Fetch = Callable[[], Awaitable[tuple[T, float]]]
# None when plausible, else why the value is rejected
Guard = Callable[[T, "Reading[T] | None", float], "str | None"]


@dataclass(frozen=True, slots=True)
class Source(Generic[T]):
    name: str
    fetch: Fetch[T]
    reject: Callable[[str], None]  # counts an absurd answer against the provider's health


@dataclass(frozen=True, slots=True)
class ChainResult(Generic[T]):
    reading: Reading[T] | None
    via: Via
    attempts: tuple[Attempt, ...]

    def errors(self) -> str:
        return "; ".join(f"{a.source}: {a.error}" for a in self.attempts if not a.ok)


class FallbackChain(Generic[T]):
    def __init__(
        self,
        quantity: str,
        sources: list[Source[T]],
        clock: Clock,
        guard: Guard[T] | None = None,
        *,
        shared: SharedCache | None = None,
        decode: Callable[[Any], T] | None = None,
        shared_ttl_s: float = 86_400.0,
    ) -> None:
        if not sources:
            raise ValueError(f"{quantity}: a fallback chain needs at least one source")
        self.quantity = quantity
        self.sources = sources
        self.clock = clock
        self.guard = guard
        self.last: Reading[T] | None = None
        self.last_result: ChainResult[T] = ChainResult(None, "none", ())
        self._last_called: dict[str, float] = {}
        # Shared last good value: `decode` rebuilds a T from its JSON form.
        self._shared = shared if decode is not None else None
        self._decode = decode
        self._shared_ttl_s = shared_ttl_s

    async def fetch(self) -> ChainResult[T]:
        attempts: list[Attempt] = []
        for source in self.sources:
            self._last_called[source.name] = self.clock.monotonic()
            try:
                value, as_of = await source.fetch()
            except ProviderError as exc:
                attempts.append(Attempt(source.name, False, str(exc)))
                continue
            except Exception as exc:  # a bug in one adapter must not stop the chain
                log.exception("%s: %s adapter failed", self.quantity, source.name)
                error = f"internal error: {type(exc).__name__}"
                attempts.append(Attempt(source.name, False, error))
                continue
            now = self.clock.time()
            reason = self.guard(value, self.last, now) if self.guard else None
            if reason is not None:
                log.warning("%s from %s rejected: %s", self.quantity, source.name, reason)
                source.reject(f"absurd {self.quantity} rejected: {reason}")
                attempts.append(Attempt(source.name, False, f"rejected: {reason}"))
                continue
            reading = Reading(value, source.name, as_of, now)
            attempts.append(Attempt(source.name, True))
            self.last = reading
            self.last_result = ChainResult(reading, "live", tuple(attempts))
            await self._share(reading)
            return self.last_result
        if attempts:
            log.warning("%s: every provider failed: %s", self.quantity, _summary(attempts))
        shared = await self._shared_reading()
        if shared is not None and (self.last is None or shared.as_of > self.last.as_of):
            self.last = shared
        via: Via = "cache" if self.last is not None else "none"
        self.last_result = ChainResult(self.last, via, tuple(attempts))
        return self.last_result

    async def follow(self, fresh_s: float) -> ChainResult[T]:
        """Take the value the polling process shared, calling no provider (another process
        holds the providers' lease). It counts as live while that process keeps accepting fresh
        values (one fetched within `fresh_s`), else as cache, like our own value would."""
        shared = await self._shared_reading()
        if shared is not None and (self.last is None or shared.fetched_at >= self.last.fetched_at):
            self.last = shared
        via: Via = "none"
        if self.last is not None:
            fresh = self.clock.time() - self.last.fetched_at <= fresh_s
            via = "live" if fresh else "cache"
        self.last_result = ChainResult(self.last, via, ())
        return self.last_result

    async def _share(self, reading: Reading[T]) -> None:
        if self._shared is None:
            return
        value = reading.value
        encoded = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        entry = {
            "value": encoded,
            "source": reading.source,
            "as_of": reading.as_of,
            "fetched_at": reading.fetched_at,
        }
        await self._shared.set(self.quantity, entry, self._shared_ttl_s)

    async def _shared_reading(self) -> Reading[T] | None:
        if self._shared is None or self._decode is None:
            return None
        entry = await self._shared.get(self.quantity)
        try:
            return Reading(
                self._decode(entry["value"]),
                str(entry["source"]),
                float(entry["as_of"]),
                float(entry["fetched_at"]),
            )
        except (TypeError, KeyError, ValueError):  # absent, or written by another version
            return None

    async def probe_idle(self, idle_s: float) -> list[Attempt]:
        """Call the fallbacks no round has needed for `idle_s`, so their health is known before
        they are needed. The answers are not used; failures only reach the health registry."""
        attempts: list[Attempt] = []
        for source in self.sources:
            last = self._last_called.get(source.name)
            if last is not None and self.clock.monotonic() - last < idle_s:
                continue
            self._last_called[source.name] = self.clock.monotonic()
            try:
                value, _as_of = await source.fetch()
            except Exception as exc:  # a probe never raises: it only informs health
                attempts.append(Attempt(source.name, False, str(exc)[:200]))
                continue
            reason = self.guard(value, self.last, self.clock.time()) if self.guard else None
            if reason is not None:
                source.reject(f"absurd {self.quantity} rejected: {reason}")
            attempts.append(Attempt(source.name, reason is None, reason))
        return attempts


def _summary(attempts: list[Attempt]) -> str:
    return "; ".join(f"{a.source}: {a.error}" for a in attempts)
