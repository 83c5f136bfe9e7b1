"""The HTTP client factory against a real loopback server: retries, breaker, Retry-After, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.health import HealthRegistry
from backend.core.http import (
    CircuitOpenError,
    HttpClientFactory,
    ProviderError,
    RateLimitedError,
)
from tests.helpers import free_port


@dataclass
class Script:
    """What the loopback server answers next, and what it saw."""

    replies: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    hits: int = 0
    delay_s: float = 0.0


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def endpoint(_request: Request) -> Response:
        script.hits += 1
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        status, body, headers = script.replies.pop(0) if script.replies else (200, "{}", {})
        if body.startswith("{"):
            return Response(body, status, headers, media_type="application/json")
        return PlainTextResponse(body, status, headers)

    app = Starlette(routes=[Route("/data", endpoint)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", script
    server.should_exit = True
    await task


def factory(
    clock: ManualClock | None = None, **kw: float
) -> tuple[HttpClientFactory, HealthRegistry]:
    health = HealthRegistry(EventBus())
    options = {"timeout_s": 2.0, "retries": 2, "breaker_failures": 3, "breaker_cooldown_s": 30.0}
    options.update(kw)
    made = HttpClientFactory(
        health,
        clock=clock or ManualClock(),
        backoff_base_s=0.01,
        **options,  # type: ignore[arg-type]
    )
    return made, health


async def test_success_reports_latency_to_health(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(200, '{"price": 1}', {})]
    made, health = factory()
    try:
        assert await made.provider("demo", url).get_json("/data") == {"price": 1}
    finally:
        await made.aclose()
    item = health.get("demo")
    assert item is not None and item.status == "ok" and item.latency_ms is not None


async def test_5xx_is_retried_then_succeeds(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(503, "busy", {}), (500, "oops", {}), (200, '{"ok": true}', {})]
    made, _health = factory()
    try:
        assert await made.provider("demo", url).get_json("/data") == {"ok": True}
    finally:
        await made.aclose()
    assert script.hits == 3


async def test_4xx_is_not_retried_and_is_reported(server: tuple[str, Script]) -> None:
    url, script = server
    script.replies = [(404, "nope", {})]
    made, health = factory()
    try:
        with pytest.raises(ProviderError, match="HTTP 404"):
            await made.provider("demo", url).get_json("/data")
    finally:
        await made.aclose()
    assert script.hits == 1
    item = health.get("demo")
    assert item is not None and item.last_error is not None and "404" in item.last_error


async def test_429_honours_retry_after_and_blocks_calls(server: tuple[str, Script]) -> None:
    url, script = server
    clock = ManualClock()
    script.replies = [(429, "slow down", {"Retry-After": "20"})]
    made, _health = factory(clock)
    provider = made.provider("demo", url)
    try:
        with pytest.raises(RateLimitedError) as err:
            await provider.get_json("/data")
        assert err.value.retry_after == 20
        with pytest.raises(CircuitOpenError):
            await provider.get_json("/data")  # not sent: the provider asked us to wait
        assert script.hits == 1
        clock.advance(21)
        assert await provider.get_json("/data") == {}
    finally:
        await made.aclose()


async def test_breaker_opens_after_failures_then_half_opens(server: tuple[str, Script]) -> None:
    url, script = server
    clock = ManualClock()
    made, health = factory(clock, retries=0)
    provider = made.provider("demo", url)
    try:
        script.replies = [(500, "x", {})] * 3
        for _ in range(3):
            with pytest.raises(ProviderError):
                await provider.get_json("/data")
        assert provider.breaker.state == "open"
        with pytest.raises(CircuitOpenError):
            await provider.get_json("/data")
        assert script.hits == 3  # the open breaker did not hammer the provider
        item = health.get("demo")
        assert item is not None and item.status == "down" and "circuit open" in str(item.last_error)
        clock.advance(31)
        assert provider.breaker.state == "half-open"
        assert await provider.get_json("/data") == {}
        assert provider.breaker.state == "closed"
    finally:
        await made.aclose()


async def test_timeout_and_malformed_json_are_clear_errors(server: tuple[str, Script]) -> None:
    url, script = server
    made, health = factory(timeout_s=0.2, retries=0)
    try:
        script.delay_s = 1.0
        with pytest.raises(ProviderError, match=r"timeout after 0.2s"):
            await made.provider("slow", url).get_json("/data")
        script.delay_s = 0
        script.replies = [(200, "<html>", {})]
        with pytest.raises(ProviderError, match="not valid JSON"):
            await made.provider("html", url).get_json("/data")
    finally:
        await made.aclose()
    html = health.get("html")
    assert html is not None and html.status != "ok"


async def test_unreachable_provider_is_a_provider_error() -> None:
    made, _health = factory(retries=1)
    try:
        with pytest.raises(ProviderError, match="ConnectError"):
            await made.provider("gone", f"http://127.0.0.1:{free_port()}").get_json("/x")
    finally:
        await made.aclose()
