"""The one way the backend calls HTTP APIs: timeouts, retries with backoff, a circuit breaker per
provider.

Every call reports its outcome to the health registry, so `/api/v1/health` shows each provider as it
really behaves. A tripped breaker fails fast with `CircuitOpenError` until its cool-down has passed;
then one trial call decides whether it closes again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from backend.core.backoff import exponential
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.health import HealthRegistry
from backend.core.untrusted import UntrustedInputError, loads

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 120.0
# A provider's answer is read up to this size, then refused: the largest real one we parse
# (a year of CoinGecko market chart) is a few hundred KiB.
MAX_REPLY_BYTES = 8 << 20


class ProviderError(Exception):
    """A provider call failed; the message is safe to log and show (no secrets, no full bodies)."""

    def __init__(self, provider: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status


class CircuitOpenError(ProviderError):
    """The provider failed repeatedly and is not called until its cool-down ends."""


class ReplyTooLargeError(ProviderError):
    """The answer passed `MAX_REPLY_BYTES` and was cut off unread."""


class RateLimitedError(ProviderError):
    def __init__(self, provider: str, retry_after: float | None) -> None:
        suffix = f", retry after {retry_after:.0f}s" if retry_after else ""
        super().__init__(provider, f"rate limited (HTTP 429){suffix}", 429)
        self.retry_after = retry_after


@dataclass(slots=True)
class CircuitBreaker:
    failures_to_open: int
    cooldown_s: float
    clock: Clock
    consecutive_failures: int = 0
    opened_at: float | None = None
    blocked_until: float = 0.0

    def allow(self) -> bool:
        now = self.clock.monotonic()
        if now < self.blocked_until:
            return False
        if self.opened_at is None:
            return True
        return now - self.opened_at >= self.cooldown_s

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.failures_to_open:
            self.opened_at = self.clock.monotonic()

    def block_for(self, seconds: float) -> None:
        """Honour a provider's Retry-After: no calls until it has passed."""
        self.blocked_until = max(self.blocked_until, self.clock.monotonic() + seconds)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.allow() else "open"


class ProviderClient:
    """HTTP access to one provider (one base URL) through the shared connection pool."""

    def __init__(
        self,
        factory: HttpClientFactory,
        name: str,
        base_url: str,
        timeout_s: float,
        retries: int,
        headers: dict[str, str] | None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self._factory = factory
        self._headers = headers or {}
        self.breaker = CircuitBreaker(
            factory.breaker_failures, factory.breaker_cooldown_s, factory.clock
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        retries: int | None = None,
        accept_4xx: bool = False,
    ) -> httpx.Response:
        """One logical call with retries; raise `ProviderError` unless the answer is 2xx.

        `accept_4xx` returns 4xx answers (but 429) instead: for APIs that explain a refusal in
        the body (Bitmart's error codes, the ndau node). Such an answer is neither a success nor
        a failure of the provider.
        """
        if not self.breaker.allow():
            waiting = self.breaker.blocked_until - self._factory.clock.monotonic()
            if waiting > 0:  # market & chain: say why when it is a Retry-After wait
                message = f"rate limited: Retry-After, {waiting:.0f}s to wait"
                raise CircuitOpenError(self.name, message, 429)
            raise CircuitOpenError(self.name, f"circuit {self.breaker.state}: not calling for now")
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        merged = {**self._headers, **(headers or {})}
        last_error: ProviderError | None = None
        for attempt in range((self.retries if retries is None else retries) + 1):
            if attempt:
                await asyncio.sleep(self._factory.backoff(attempt))
            started = self._factory.clock.monotonic()
            try:
                request = self._factory.client.build_request(
                    method,
                    url,
                    params=params,
                    json=json,
                    content=content,
                    headers=merged,
                    timeout=self.timeout_s,
                )
                async with asyncio.timeout(self.timeout_s * 2):  # a reply that drips slowly
                    response = await self._factory.read_bounded(request, self.name)
            except (httpx.TimeoutException, TimeoutError):
                last_error = ProviderError(self.name, f"timeout after {self.timeout_s:g}s")
                continue
            except ReplyTooLargeError as error:
                self._record_failure(error, None)
                raise
            except httpx.HTTPError as exc:
                last_error = ProviderError(self.name, f"{type(exc).__name__}: {_short(exc)}")
                continue
            latency_ms = (self._factory.clock.monotonic() - started) * 1000
            if response.status_code == 429:
                retry_after = _retry_after(response)
                if retry_after:
                    self.breaker.block_for(retry_after)
                self._record_failure(RateLimitedError(self.name, retry_after), latency_ms)
                raise RateLimitedError(self.name, retry_after)
            if response.status_code in RETRYABLE_STATUS:
                last_error = ProviderError(
                    self.name, f"HTTP {response.status_code}", response.status_code
                )
                continue
            if response.status_code >= 400 and accept_4xx and response.status_code < 500:
                return response
            if response.status_code >= 400:
                refused = ProviderError(
                    self.name, f"HTTP {response.status_code}", response.status_code
                )
                self._record_failure(refused, latency_ms)
                raise refused
            self.breaker.record_success()
            self._factory.health.success(self.name, latency_ms)
            return response
        assert last_error is not None
        self._record_failure(last_error, None)
        raise last_error

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.decode(await self.request("GET", path, params=params))

    def decode(self, response: httpx.Response, *, decimal: bool = False) -> Any:
        """The answer's JSON under the untrusted-input policy (bounded size and nesting, strict
        numbers); an unusable one counts against the provider. `decimal` keeps fractions exact."""
        try:
            return loads(
                response.content, max_bytes=MAX_REPLY_BYTES, what="response", decimal=decimal
            )
        except UntrustedInputError as exc:
            self.report_bad_payload(str(exc))
            raise ProviderError(self.name, str(exc), response.status_code) from None

    def report_bad_payload(self, reason: str) -> None:
        """A 2xx answer that is unusable (malformed, absurd) counts as a failure of the provider."""
        self._record_failure(ProviderError(self.name, reason), None)

    def _record_failure(self, error: ProviderError, latency_ms: float | None) -> None:
        self.breaker.record_failure()
        message = str(error)
        if self.breaker.state == "open":
            message += " (circuit open)"
        self._factory.health.failure(self.name, message, latency_ms)


class HttpClientFactory:
    """Owns the shared `httpx.AsyncClient` and hands out one `ProviderClient` per provider."""

    def __init__(
        self,
        health: HealthRegistry,
        *,
        timeout_s: float = 10.0,
        retries: int = 2,
        breaker_failures: int = 5,
        breaker_cooldown_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        backoff_base_s: float = 0.5,
    ) -> None:
        self.health = health
        self.timeout_s = timeout_s
        self.retries = retries
        self.breaker_failures = breaker_failures
        self.breaker_cooldown_s = breaker_cooldown_s
        self.clock = clock
        self.backoff_base_s = backoff_base_s
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": "HashInsight/0.1"},
            follow_redirects=False,
            trust_env=False,
        )
        self._providers: dict[str, ProviderClient] = {}

    def provider(
        self,
        name: str,
        base_url: str,
        *,
        kind: str = "http",
        timeout_s: float | None = None,
        retries: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> ProviderClient:
        if name not in self._providers:
            self.health.register(name, kind, base_url)
            self._providers[name] = ProviderClient(
                self,
                name,
                base_url,
                timeout_s or self.timeout_s,
                self.retries if retries is None else retries,
                headers,
            )
        return self._providers[name]

    async def read_bounded(self, request: httpx.Request, provider: str) -> httpx.Response:
        """Send `request` and read its answer, refusing it past `MAX_REPLY_BYTES` (by its
        Content-Length or by the bytes received) instead of holding all of it in memory."""
        response = await self.client.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
                raise ReplyTooLargeError(provider, _too_large(int(declared)), response.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():  # decoded: a gzip bomb is bounded too
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise ReplyTooLargeError(provider, _too_large(size), response.status_code)
                chunks.append(chunk)
        finally:
            await response.aclose()
        headers = response.headers.copy()  # the bytes are decoded already: say so
        for name in ("Content-Encoding", "Content-Length"):
            headers.pop(name, None)
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=response.extensions,
        )

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter (half the delay fixed), capped at 10 s."""
        return exponential(attempt, base_s=self.backoff_base_s, cap_s=10.0, jitter="equal")

    async def aclose(self) -> None:
        await self.client.aclose()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A `Retry-After` header's wait in seconds, as given (delay-seconds, or an HTTP date less
    `now`), unbounded; None when absent or unreadable. Callers apply their own bounds."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return when.timestamp() - now


def _retry_after(response: httpx.Response) -> float | None:
    seconds = retry_after_seconds(response.headers.get("Retry-After"), SYSTEM_CLOCK.time())
    if seconds is None:
        return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


def _too_large(size: int) -> str:
    return f"answer too large: {size} bytes or more, the limit is {MAX_REPLY_BYTES}"


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:160]
