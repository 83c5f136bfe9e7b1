"""One HTTP call whose 4xx answer is still read: Bitmart and the ndau node put the meaning of a
refusal (30005 bad signature, "sequence too low"...) in the JSON body of a 4xx response.

`ProviderClient.request` raises on every 4xx without the body, so this goes through the same
shared `httpx` client of the `HttpClientFactory`, the provider's circuit breaker and timeout, and
reports 2xx successes and transport failures to the health registry the same way. JSON numbers
with a fraction are parsed as `Decimal`, never as floats.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from backend.core.http import (
    CircuitOpenError,
    HttpClientFactory,
    ProviderClient,
    ProviderError,
    RateLimitedError,
)

RETRYABLE = frozenset({500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A response that is not a transport failure: status, parsed JSON body and headers."""

    status: int
    body: Any
    headers: httpx.Headers


def loads_exact(raw: bytes | str) -> Any:
    """JSON with fractional numbers as Decimal, so no amount ever passes through a float."""
    return json.loads(raw, parse_float=Decimal)


async def call(
    http: HttpClientFactory,
    provider: ProviderClient,
    method: str,
    path: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    retries: int | None = None,
) -> Answer:
    """Call `provider`; return any 2xx-4xx answer with its JSON body, raise `ProviderError`
    for transport failures, 5xx after retries, 429 and bodies that are not JSON."""
    if not provider.breaker.allow():
        raise CircuitOpenError(provider.name, f"circuit {provider.breaker.state}: not calling")
    url = f"{provider.base_url}/{path.lstrip('/')}"
    attempts = (provider.retries if retries is None else retries) + 1
    last: ProviderError | None = None
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(http.backoff(attempt))
        started = http.clock.monotonic()
        try:
            response = await http.client.request(
                method, url, content=content, headers=headers, timeout=provider.timeout_s
            )
        except httpx.TimeoutException:
            last = ProviderError(provider.name, f"timeout after {provider.timeout_s:g}s")
            continue
        except httpx.HTTPError as exc:
            last = ProviderError(provider.name, f"{type(exc).__name__}: {str(exc)[:160]}")
            continue
        latency_ms = (http.clock.monotonic() - started) * 1000
        if response.status_code == 429:
            retry_after = _retry_after(response)
            if retry_after:
                provider.breaker.block_for(retry_after)
            error = RateLimitedError(provider.name, retry_after)
            http.health.failure(provider.name, str(error), latency_ms)
            raise error
        if response.status_code in RETRYABLE:
            status = response.status_code
            last = ProviderError(provider.name, f"HTTP {status}", status)
            continue
        try:
            body = loads_exact(response.content) if response.content.strip() else None
        except ValueError:
            reason = f"HTTP {response.status_code} answer is not valid JSON"
            provider.report_bad_payload(reason)
            raise ProviderError(provider.name, reason, response.status_code) from None
        if response.status_code < 300:
            provider.breaker.record_success()
            http.health.success(provider.name, latency_ms)
        return Answer(response.status_code, body, response.headers)
    assert last is not None
    provider.report_bad_payload(str(last).split(": ", 1)[-1])
    raise last


def _retry_after(response: httpx.Response) -> float | None:
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return max(0.0, min(value, MAX_RETRY_AFTER_S))
