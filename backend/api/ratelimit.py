"""Rate-limit headers on every authenticated response, and per-key usage counting.

`current_key` (deps.py) counts the request against the key's tier and leaves the decision in the
request state; this ASGI middleware copies it into the response headers (`X-RateLimit-*`, the IETF
`RateLimit-Policy`/`RateLimit`, and `Retry-After` on a 429), whatever route or error produced the
response, and counts the answer in the key's usage.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.ratelimit import Decision
from backend.auth.service import KeyInfo


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = state.get("ratelimit")
                if isinstance(decision, Decision):
                    _add_headers(message, decision)
                key = state.get("key")
                if isinstance(key, KeyInfo):
                    _count(scope, key, int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add_headers(message: Message, decision: Decision) -> None:
    """Append the decision's headers as raw bytes, never replacing one the route already set
    (a 429's own Retry-After, say): one pass over the response's headers, no header object."""
    raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
    present = {name.lower() for name, _value in raw}
    for name, value in decision.headers():
        encoded = name.lower().encode("latin-1")
        if encoded not in present:
            raw.append((encoded, value.encode("latin-1")))
    message["headers"] = raw


def _count(scope: Scope, key: KeyInfo, status: int) -> None:
    app = scope.get("app")
    backend = getattr(getattr(app, "state", None), "backend", None)
    services = getattr(backend, "services_by_name", {}) if backend is not None else {}
    access = services.get("api_access")
    usage = getattr(access, "usage", None)
    if usage is not None:
        usage.record(key.key_id, key.owner_id, status)
