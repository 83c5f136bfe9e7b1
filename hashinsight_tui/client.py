"""Async Python client of the HashInsight API — what the console uses, and the partners' SDK.

    async with HashInsightClient("http://127.0.0.1:8765", api_key) as client:
        report = await client.health()
        async for event in client.stream(["health"]):
            print(event.channel, event.event, event.data)

Errors are typed: `AuthError` (401/403), `ApiError` (any other error answer, with the API's code and
message), `ConnectionLost` (no answer at all). The key is sent only in the Authorization header and
never appears in a repr or an exception.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

__all__ = [
    "ApiError",
    "AuthError",
    "ConnectionLost",
    "HashInsightClient",
    "HealthReport",
    "Integration",
    "KeyInfo",
    "StreamEvent",
]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthError(ApiError):
    """The key is missing, invalid, revoked, or lacks the scope."""


class ConnectionLost(Exception):
    """The backend did not answer (down, unreachable, or the stream dropped)."""


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    kind: str
    target: str
    status: str
    latency_ms: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    checks: int
    failures: int
    detail: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Integration:
        return cls(**{name: data.get(name) for name in cls.__slots__})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: str
    version: str
    started_at: float
    uptime_s: float
    mode: str
    integrations: tuple[Integration, ...]
    bus: dict[str, int]
    websocket_clients: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        return cls(
            status=data["status"],
            version=data["version"],
            started_at=data["started_at"],
            uptime_s=data["uptime_s"],
            mode=data["mode"],
            integrations=tuple(Integration.from_dict(i) for i in data["integrations"]),
            bus=dict(data["bus"]),
            websocket_clients=data["websocket_clients"],
        )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    owner_type: str
    owner_id: str | None
    scopes: tuple[str, ...]
    tier: str
    mode: str
    read_only: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyInfo:
        values = {name: data.get(name) for name in cls.__slots__}
        values["scopes"] = tuple(data.get("scopes") or ())
        return cls(**values)  # type: ignore[arg-type]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class StreamEvent:
    channel: str
    event: str
    data: dict[str, Any]
    ts: float


@dataclass
class HashInsightClient:
    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 10.0
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> HashInsightClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout_s,
                transport=self.transport,
                trust_env=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; returns decoded JSON or raises a typed error."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ConnectionLost(f"{self.base_url}: no answer within {self.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"{self.base_url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            code, message = "error", response.reason_phrase
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                pass
            kind = AuthError if response.status_code in (401, 403) else ApiError
            raise kind(response.status_code, code, message)
        if not response.content:
            return None
        return response.json()

    async def alive(self) -> bool:
        """Whether a HashInsight backend answers at this URL (no key needed)."""
        try:
            response = await self.http.get("/healthz", timeout=min(self.timeout_s, 2.0))
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    async def health(self) -> HealthReport:
        return HealthReport.from_dict(await self.request("GET", "/api/v1/health"))

    async def check_health_now(self) -> HealthReport:
        return HealthReport.from_dict(await self.request("POST", "/api/v1/health/check"))

    async def me(self) -> KeyInfo:
        return KeyInfo.from_dict(await self.request("GET", "/api/v1/me"))

    @property
    def ws_url(self) -> str:
        base = self.base_url.rstrip("/")
        return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]) + "/ws"

    async def stream(
        self,
        channels: Iterable[str],
        filters: dict[str, Any] | None = None,
        *,
        open_timeout_s: float = 10.0,
        only_available: bool = False,
    ) -> AsyncIterator[StreamEvent]:
        """Subscribe to channels and yield their events; ConnectionLost when the stream ends."""
        try:
            async with websockets.connect(
                self.ws_url, open_timeout=open_timeout_s, max_size=2**22, ping_interval=20
            ) as ws:
                await ws.send(json.dumps({"type": "auth", "api_key": self.api_key}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), open_timeout_s))
                if reply.get("type") != "auth_ok":
                    raise AuthError(
                        401, reply.get("code", "unauthorized"), reply.get("message", "")
                    )
                wanted = list(channels)
                if only_available:  # skip channels this backend does not offer (older/partial)
                    offered = set(reply.get("channels") or ())
                    wanted = [c for c in wanted if c in offered]
                if wanted:
                    frame: dict[str, Any] = {"type": "subscribe", "channels": wanted}
                    if filters:
                        frame["filters"] = filters
                    await ws.send(json.dumps(frame))
                async for raw in ws:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind == "event":
                        yield StreamEvent(
                            message["channel"], message["event"], message["data"], message["ts"]
                        )
                    elif kind == "error":
                        raise ApiError(
                            400, message.get("code", "error"), message.get("message", "")
                        )
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "no reason"
            raise ConnectionLost(f"stream closed: {reason}") from None
        except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
            raise ConnectionLost(f"stream to {self.ws_url} failed: {type(exc).__name__}") from None
        raise ConnectionLost("stream ended")
