"""API shapes shared by the keys, partners, webhooks, exports and analytics routers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from hashinsight_contract.common import ErrorResponse

Scope = Literal["read", "stream", "export", "fleet:control", "issuer:approve", "admin"]
TierName = Literal["basic", "pro", "enterprise", "operator"]
PartnerTier = Literal["basic", "pro", "enterprise"]
Mode = Literal["auto", "semi_auto"]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request (e.g. a key in the query string)"},
    404: {"model": ErrorResponse, "description": "Not found"},
    409: {"model": ErrorResponse, "description": "Conflict with the current state"},
    422: {"model": ErrorResponse, "description": "Invalid parameters or body"},
    429: {
        "model": ErrorResponse,
        "description": "Rate limit reached (see Retry-After) or address blocked after failures",
    },
    503: {"model": ErrorResponse, "description": "The service behind this route is not running"},
}


class KeyDetail(BaseModel):
    key_id: str
    name: str
    owner_type: Literal["operator", "partner"]
    owner_id: str | None
    scopes: list[str]
    tier: str
    mode: Mode
    read_only: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    suspended_at: str | None = None

    @property
    def state(self) -> str:
        """revoked, suspended or active, in that order of precedence."""
        if self.revoked_at:
            return "revoked"
        if self.suspended_at:
            return "suspended"
        return "active"


class KeyList(BaseModel):
    items: list[KeyDetail]
    total: int
    limit: int
    offset: int


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    owner_type: Literal["operator", "partner"] = "operator"
    partner_id: str | None = Field(
        default=None, max_length=64, description="Required for partner keys"
    )
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["read"]), min_length=1)
    tier: TierName | None = Field(default=None, description="Default: operator, or the partner's")
    mode: Mode = "auto"
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class KeyCreated(BaseModel):
    key: KeyDetail
    api_key: str = Field(description="The full key: shown once, store it now", repr=False)


class KeyUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    mode: Mode | None = None
    tier: TierName | None = None
    scopes: list[Scope] | None = Field(default=None, min_length=1)


class KeyReveal(BaseModel):
    key_id: str
    api_key: str = Field(repr=False)


class UsageRow(BaseModel):
    key_id: str
    owner_id: str | None
    hour: str
    requests: int
    errors: int
    rate_limited: int


class UsageList(BaseModel):
    items: list[UsageRow]
    total: int


class TierLimits(BaseModel):
    tier: str
    per_minute: int
    per_hour: int
    websocket: bool
    ws_connections: int
    ws_subscriptions: int
    bulk_export: bool


class LimitWindow(BaseModel):
    name: str
    limit: int
    remaining: int
    reset: int = Field(description="Unix epoch seconds when this window starts afresh")


class LimitsOut(BaseModel):
    key_id: str
    limits: TierLimits
    windows: list[LimitWindow]


# --- partners ------------------------------------------------------------------------------------


class PartnerRegister(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    website: str | None = Field(default=None, max_length=300)
    contact: str | None = Field(default=None, max_length=200)
    integration_type: str | None = Field(default=None, max_length=40)
    tier: PartnerTier = "basic"
    scopes: list[Scope] | None = Field(
        default=None, description="Default: read (basic), +stream (pro), +export (enterprise)"
    )
    mode: Mode = "auto"


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    description: str | None
    website: str | None
    contact: str | None
    integration_type: str | None
    tier: str
    status: Literal["active", "suspended", "deleted"]
    created_at: str
    updated_at: str
    suspended_at: str | None
    deleted_at: str | None
    active_keys: int | None


class PartnerRegistered(BaseModel):
    partner_id: str
    partner: PartnerOut
    key_id: str
    api_key: str = Field(description="The partner's API key: shown once", repr=False)
    api_secret: str = Field(
        description="The webhook signing secret (whsec_…): shown once", repr=False
    )
    rate_limits: TierLimits


class PartnerList(BaseModel):
    items: list[PartnerOut]
    total: int
    limit: int
    offset: int


class PartnerUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    website: str | None = Field(default=None, max_length=300)
    contact: str | None = Field(default=None, max_length=200)
    integration_type: str | None = Field(default=None, max_length=40)
    tier: PartnerTier | None = None


class PartnerSecret(BaseModel):
    partner_id: str
    api_secret: str = Field(repr=False)


class PartnerKeyCreate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    scopes: list[Scope] | None = None
    mode: Mode = "auto"


# --- webhooks ------------------------------------------------------------------------------------


class WebhookCreate(BaseModel):
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)
    partner_id: str | None = Field(
        default=None, max_length=64, description="Admins: the partner it belongs to"
    )


class WebhookUpdate(BaseModel):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=20
    )
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint")


class WebhookOut(BaseModel):
    webhook_id: str
    partner_id: str
    url: str
    event_types: list[str]
    description: str | None
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    consecutive_failures: int
    created_at: str
    updated_at: str
    last_success_at: str | None
    last_failure_at: str | None


class WebhookList(BaseModel):
    items: list[WebhookOut]
    total: int
    limit: int
    offset: int


class DeliveryAttemptOut(BaseModel):
    at: str
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    partner_id: str
    message_id: str
    event_type: str
    status: Literal["pending", "retrying", "delivered", "failed", "cancelled"]
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: float | None
    attempt_log: list[DeliveryAttemptOut]
    created_at: str
    delivered_at: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class EventTypeOut(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    items: list[EventTypeOut]
    signature: str = Field(description="How deliveries are signed")


# --- exports -------------------------------------------------------------------------------------


class ExportCreate(BaseModel):
    dataset: str = Field(min_length=1, max_length=60)
    format: Literal["json", "csv"] = "json"
    gzip: bool = False
    start: str | None = Field(
        default=None,
        max_length=64,
        description="ISO-8601 time with timezone (inclusive), 1970 to 9000; not after `end`",
    )
    end: str | None = Field(
        default=None,
        max_length=64,
        description="ISO-8601 time with timezone (exclusive), 1970 to 9000",
    )


class ExportOut(BaseModel):
    export_id: str
    dataset: str
    format: Literal["json", "csv"]
    gzip: bool
    start: str | None
    end: str | None
    status: Literal["queued", "running", "completed", "failed", "expired"]
    rows: int
    size_bytes: int | None
    estimated_size: int | None = Field(description="Bytes, estimated from the row count")
    error: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    expires_at: str
    status_url: str
    download_url: str


class ExportList(BaseModel):
    items: list[ExportOut]
    total: int
    limit: int
    offset: int


class DatasetOut(BaseModel):
    name: str
    description: str
    columns: list[str]
    available: bool
    reason: str | None


class DatasetList(BaseModel):
    items: list[DatasetOut]


# --- analytics -----------------------------------------------------------------------------------


class PointOut(BaseModel):
    t: float = Field(description="Bucket start, unix seconds")
    value: float


class HistoricalOut(BaseModel):
    metric: str
    unit: str
    period: Literal["1h", "1d", "1w", "1m"]
    interval_s: int
    start: float
    end: float
    source: str
    count: int
    points: list[PointOut]


class MetricOut(BaseModel):
    name: str
    unit: str
    description: str
    available: bool
    reason: str | None


class MetricList(BaseModel):
    items: list[MetricOut]
