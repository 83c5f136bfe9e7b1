"""One delivery attempt: check the target, sign, POST, classify the answer."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from backend.notify.signing import signed_headers
from backend.notify.targets import TargetRefused, check_target


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    gone: bool = False  # the endpoint answered 410: stop sending to it


def retry_delay(schedule: list[float], attempts: int) -> float | None:
    """Delay before the next try after `attempts` failed ones (None: give up), ±20% jitter."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return max(0.0, base * random.uniform(0.8, 1.2))


async def attempt(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    timeout_s: float,
    allow_private: bool,
    allow_http: bool,
    timestamp: int | None = None,
) -> AttemptResult:
    started = time.monotonic()

    def elapsed() -> float:
        return (time.monotonic() - started) * 1000

    try:
        await check_target(url, allow_private=allow_private, allow_http=allow_http)
    except TargetRefused as exc:
        return AttemptResult(False, None, f"target refused: {exc}", elapsed())
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        **signed_headers(secret, message_id, ts, body),
        "user-agent": "HashInsight-Webhooks/1",
    }
    try:
        # httpx's timeout bounds each read and write, not the whole exchange: an endpoint that
        # drips its answer a byte at a time would hold a delivery slot for hours without one.
        post = client.stream("POST", url, content=body, headers=headers, timeout=timeout_s)
        async with asyncio.timeout(timeout_s), post as response:
            status = response.status_code  # the body is never read: nothing to store or trust
    except (httpx.TimeoutException, TimeoutError):
        return AttemptResult(False, None, f"timeout after {timeout_s:g}s", elapsed())
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return AttemptResult(False, None, f"{type(exc).__name__}: {str(exc)[:160]}", elapsed())
    if 200 <= status < 300:
        return AttemptResult(True, status, None, elapsed())
    return AttemptResult(False, status, f"HTTP {status}", elapsed(), gone=status == 410)
