"""Shapes every part of the API shares: errors, health, the caller's key."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "degraded", "down", "unknown", "disabled"]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class IntegrationOut(BaseModel):
    name: str
    kind: str
    target: str
    status: Status
    latency_ms: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    checks: int
    failures: int
    detail: str | None
    last_check: float | None = Field(
        default=None, description="last success, failure or word of the component itself"
    )
    interval_s: float | None = Field(default=None, description="between checks")
    stale_after_s: float | None = Field(
        default=None, description="a check older than this is stale (null: not checked yet)"
    )


class BusStats(BaseModel):
    subscribers: int
    published: int
    dropped: int


class HealthReport(BaseModel):
    status: Status
    version: str
    started_at: float
    uptime_s: float
    mode: Literal["serve", "embedded", "demo"]
    integrations: list[IntegrationOut]
    bus: BusStats
    websocket_clients: int


class KeyOut(BaseModel):
    key_id: str
    name: str
    owner_type: str
    owner_id: str | None
    scopes: list[str]
    tier: str
    mode: str
    read_only: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    def has(self, scope: str) -> bool:
        """Whether this key may act within `scope` (admin holds every scope)."""
        return scope in self.scopes or "admin" in self.scopes


class Liveness(BaseModel):
    """The liveness probe's answer: the process serves requests (nothing else is checked)."""

    status: Literal["ok"]
