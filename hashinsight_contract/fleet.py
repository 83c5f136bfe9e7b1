"""Fleet API shapes (the contract the console and partners build against)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

# The one list of control actions: the API's command names are this type.
Action = Literal[
    "restart",
    "switchpool",
    "addpool",
    "enablepool",
    "disablepool",
    "removepool",
    "sleep",
    "wake",
    "fault_light",
    "work_mode",
]
MinerStatus = Literal["online", "offline", "error", "sleeping"]
CommandName = Action
CommandState = Literal["sent", "succeeded", "failed", "pending_approval", "refused"]
AlertState = Literal["raised", "acknowledged", "cleared"]
# The alert rules the fleet judges, and how severities rank (filters and sorting use both).
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
RULES: tuple[str, ...] = (
    "offline",
    "overheat",
    "cold_inlet",
    "hashrate_low",
    "board_failure",
    "fan_failure",
    "pools_dead",
    "wrong_pool",
    "wrong_worker",
    "reject_rate",
    "hw_error_rate",
)

Period = Literal["1h", "6h", "24h", "7d", "30d"]


class BoardOut(BaseModel):
    index: int
    chips_expected: int | None
    chips_ok: int | None
    chips_failed: int | None
    hashrate_ths: float | None
    temp_board_c: float | None
    temp_chip_c: float | None


class PoolOut(BaseModel):
    url: str
    user: str | None
    status: str | None
    active: bool
    priority: int | None
    accepted: int | None
    rejected: int | None
    stale: int | None


class CapabilityOut(BaseModel):
    supported: bool
    reason: str | None = None


class MinerOut(BaseModel):
    """One miner; the list's ``fields=summary`` form leaves out boards and pools."""

    id: str
    host: str
    port: int
    site: str | None
    rack: str | None
    position: str | None
    status: MinerStatus
    model: str | None
    firmware: str | None
    hashrate_ths: float | None
    hashrate_avg_ths: float | None
    hashrate_expected_ths: float | None
    power_w: float | None
    efficiency_jth: float | None
    temp_inlet_c: float | None
    temp_outlet_c: float | None
    temp_board_max_c: float | None
    temp_chip_max_c: float | None
    fans_rpm: list[int]
    boards: list[BoardOut] | None = None
    pools: list[PoolOut] | None = None
    accepted: int | None
    rejected: int | None
    hardware_errors: int | None
    uptime_s: int | None
    error: str | None
    last_seen: float | None
    polled_at: float
    revenue_usd_day: float | None
    cost_usd_day: float | None
    profit_usd_day: float | None
    open_alerts: int
    stale: bool = Field(
        default=False,
        description="True when no running collector covers this miner (API-only instances)",
    )
    capabilities: dict[str, CapabilityOut] | None = Field(
        default=None,
        description="The miner detail only: each command and whether this miner's firmware "
        "supports it (with the reason when not); an unsupported command is refused unsent",
    )


class MinerList(BaseModel):
    items: list[MinerOut]
    total: int
    limit: int
    offset: int


class SweepOut(BaseModel):
    started_at: float | None
    duration_s: float | None
    miners: int
    errors: int
    interval_s: float


class SiteOut(BaseModel):
    site: str | None
    total: int
    online: int
    hashrate_ths: float


class ShardOut(BaseModel):
    """One collector's shard, from its latest heartbeat."""

    shard: str
    holder: str
    miners: int
    polled: int
    errors: int
    sweeps: int
    last_sweep_at: float | None


class SummaryCoverage(BaseModel):
    """How many miners each total covers (power is missing where the firmware reports none)."""

    online: int = Field(description="Online miners: the base of power, J/TH and profit")
    power_measured: int = Field(description="Online miners whose power is measured")
    power_estimated: int = Field(
        description="Online miners without measured power, estimated from model nameplate"
    )
    revenue: int = Field(description="Miners in revenue_usd_day")
    profit: int = Field(description="Miners in profit_usd_day: revenue and a cost of their own")
    profit_estimated: int = Field(description="Of those, miners whose cost is a nameplate estimate")


class FleetSummary(BaseModel):
    total: int
    online: int
    offline: int
    error: int
    sleeping: int
    hashrate_ths: float | None
    hashrate_expected_ths: float | None
    power_kw: float | None = Field(description="Measured power of online miners")
    power_estimated_kw: float = Field(
        default=0.0, description="Nameplate power of online miners that report none"
    )
    efficiency_jth: float | None = Field(description="Over miners with measured power only")
    revenue_usd_day: float | None
    cost_usd_day: float | None = Field(description="Cost of measured power")
    cost_estimated_usd_day: float | None = Field(
        default=None, description="Cost of nameplate-estimated power"
    )
    profit_usd_day: float | None = Field(
        description="Revenue minus cost over the miners with a cost (coverage.profit)"
    )
    coverage: SummaryCoverage | None = None
    open_alerts: int
    sweep: SweepOut
    sites: list[SiteOut]
    hashprice_usd_per_th_day: float | None = Field(
        description="What revenue and profit are priced at; null when there is none, or it is "
        "more than an hour old (hashprice_as_of says when it was)"
    )
    hashprice_as_of: float | None = Field(
        default=None, description="When the BTC price the hashprice was computed from was true"
    )
    hashprice_stale: bool = Field(
        default=False,
        description="True when the price is stale or a provider stopped updating an input",
    )
    power_price_usd_kwh: float
    stale: int = Field(default=0, description="Miners no running collector covers")
    shards: list[ShardOut] = Field(
        default_factory=list, description="Collectors' shards (sharded deployments only)"
    )


class HistoryPoint(BaseModel):
    ts: float
    hashrate_ths: float | None
    power_w: float | None
    temp_board_max_c: float | None
    temp_chip_max_c: float | None
    status: str


class MinerHistory(BaseModel):
    id: str
    period: Period
    resolution_s: float
    points: list[HistoryPoint]


class CommandRequest(BaseModel):
    command: CommandName
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "switchpool/enablepool/disablepool/removepool: pool (0 = first) and, best, the "
            "url and user of the pool seen there: the command then acts on that pool wherever "
            "it is now (a miner without it refuses); addpool: url, user, password; work_mode: "
            "mode; fault_light: on"
        ),
    )


class BulkCommandRequest(CommandRequest):
    miner_ids: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=10_000
    )


class CommandOut(BaseModel):
    command_id: str
    state: CommandState
    result: str | None
    miner_id: str
    command: str
    params: dict[str, Any]
    requested_by: str
    created_at: float
    updated_at: float
    decided_by: str | None
    reason: str | None
    verified: bool | None = Field(
        default=None,
        description="After the command was sent: did reading the miner back show the effect "
        "(null until it ran, or when it was not sent)",
    )
    verification: str | None = Field(
        default=None,
        description='"verified: <what was read back>" or "sent, not verified: <why>"',
    )


class BulkCommandOut(BaseModel):
    results: list[CommandOut]


class CommandList(BaseModel):
    items: list[CommandOut]
    total: int


class DecisionRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class AlertOut(BaseModel):
    id: int
    miner_id: str
    rule: str
    severity: Literal["critical", "warning", "info"]
    state: AlertState
    message: str
    value: float | None
    threshold: float | None
    raised_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    ack_note: str | None = Field(
        default=None, description="what the acknowledging operator said is being done"
    )
    cleared_at: float | None


class AlertList(BaseModel):
    items: list[AlertOut]
    total: int


CredentialKind = Literal["web", "luxos", "whatsminer", "braiins", "vnish"]
CredentialScope = Literal["site", "miner"]


class CredentialIn(BaseModel):
    """Control credentials for a site or a miner; the password is stored encrypted."""

    scope: CredentialScope
    target: str = Field(min_length=1, max_length=200, description="site name or miner id")
    kind: CredentialKind
    user: str | None = Field(default=None, min_length=1, max_length=120)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    port: int | None = Field(
        default=None, ge=1, le=65535, description="the access's port (web: 80 on real miners)"
    )


class CredentialOut(BaseModel):
    scope: CredentialScope
    target: str
    kind: CredentialKind
    user: str | None
    password: str | None = Field(description='"********" when a password is stored; never shown')
    port: int | None
    updated_at: float
    updated_by: str


class CredentialList(BaseModel):
    items: list[CredentialOut]
    defaults: dict[str, str] = Field(
        description="What is used where nothing is stored: each kind's factory default"
    )


class AlertView(AlertOut):
    """An alert with where its miner is and the silence in force on it, if any."""

    site: str | None = None
    rack: str | None = None
    position: str | None = None
    silenced_until: float | None = None
    silenced_by: str | None = None
    silence_reason: str | None = None


class AlertViewList(BaseModel):
    items: list[AlertView]
    total: int


class AlertRouting(BaseModel):
    """Where alerts go besides the consoles (configured elsewhere; shown, not changed here)."""

    email_enabled: bool
    email_recipients: int
    email_min_severity: str
    webhooks: int = Field(description="active partner webhooks that receive miner alerts")
