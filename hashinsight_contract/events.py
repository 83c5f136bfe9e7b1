"""The WebSocket stream: its frames and the payload of every event type, defined once.

The backend publishes these payloads on its bus, `/ws` sends them in `event` frames, the SDK parses
them with `payload()`, and a test checks every event a running backend publishes against this table.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from hashinsight_contract.common import IntegrationOut
from hashinsight_contract.fleet import AlertOut, CommandOut, FleetSummary, MinerOut
from hashinsight_contract.issuer import IssueOut, SignerStatusOut
from hashinsight_contract.market import ExchangesOut, PriceCurrent
from hashinsight_contract.network import BlockOut, NetworkStats
from hashinsight_contract.notary import NotarizationOut
from hashinsight_contract.wallet import WalletLoginEvent

# --- Payloads that are not also a REST answer ---------------------------------------------------

# A `fleet.readings` row: the miner id, then these values, in this order (`FleetReadings.fields`
# names them in every event). What a sweep can change, each a `MinerOut` field of that name, and
# `pools_alive`/`pools_total`, which let a screen show a miner whose every pool is dead as a
# problem without the pool list; labels, model and firmware change rarely and come with
# `miner.update`.
READING_FIELDS: tuple[str, ...] = (
    "status",
    "hashrate_ths",
    "hashrate_avg_ths",
    "hashrate_expected_ths",
    "power_w",
    "efficiency_jth",
    "temp_inlet_c",
    "temp_outlet_c",
    "temp_board_max_c",
    "temp_chip_max_c",
    "fans_rpm",
    "accepted",
    "rejected",
    "hardware_errors",
    "uptime_s",
    "error",
    "last_seen",
    "revenue_usd_day",
    "cost_usd_day",
    "profit_usd_day",
    "open_alerts",
    "pools_alive",
    "pools_total",
)
POOL_COUNTS = ("pools_alive", "pools_total")


class FleetReadings(BaseModel):
    """One sweep's changing readings, field names once: a console applies 10,000 rows cheaply."""

    sweep: int
    polled_at: float
    interval_s: float
    fields: list[str] = Field(description="names of the values after the miner id in each row")
    rows: list[list[Any]] = Field(description="[miner_id, value per field, …] per polled miner")


class NewBlock(BlockOut):
    source: str
    as_of: float


class AlertSilenced(AlertOut):
    """An alert silenced, or its silence lifted (then the three silence fields are null)."""

    silenced_until: float | None
    silenced_by: str | None
    silence_reason: str | None = None


class IssuerRunState(BaseModel):
    """The issuer engine's own loop: lease, polls of Bitmart, what blocks it."""

    lease_held: bool
    lease_holder: str | None
    blocked: str | None
    last_poll_at: float | None
    last_poll_ok_at: float | None
    last_poll_error: str | None
    polls: int
    pipeline_error: str | None
    signer_connected: bool


class IssuerStarted(BaseModel):
    start: str = Field(description="ISO-8601 time of the first trade the issuer takes")


class IssueAlert(BaseModel):
    """The issuer needs a person: an issue has waited for approval too long, or is stuck."""

    kind: str = Field(description="what needs attention: approval_overdue or issue_failed")
    message: str
    issue: IssueOut


class NotaryVerified(BaseModel):
    """A notarization checked again end to end (document hash, signature, pin, anchor)."""

    notarization_id: int
    ok: bool
    failed_step: str | None = Field(description="the first step that failed; null when ok")


class KeyChanged(BaseModel):
    """A key was revoked or changed: caches drop it (the key itself is never sent)."""

    key_id: str


# --- The table: event type → channel and payload -------------------------------------------------


class EventSpec(BaseModel):
    channel: str
    payload: type[BaseModel]


EVENTS: dict[str, EventSpec] = {
    "health.update": EventSpec(channel="health", payload=IntegrationOut),
    "miner.update": EventSpec(channel="miners", payload=MinerOut),
    "fleet.readings": EventSpec(channel="readings", payload=FleetReadings),
    "fleet.sweep": EventSpec(channel="miners", payload=FleetSummary),
    "fleet.shard_sweep": EventSpec(channel="miners", payload=FleetSummary),
    "command.update": EventSpec(channel="miners", payload=CommandOut),
    "alert.raised": EventSpec(channel="alerts", payload=AlertOut),
    "alert.acknowledged": EventSpec(channel="alerts", payload=AlertOut),
    "alert.cleared": EventSpec(channel="alerts", payload=AlertOut),
    "alert.silenced": EventSpec(channel="alerts", payload=AlertSilenced),
    "price.tick": EventSpec(channel="prices", payload=PriceCurrent),
    "exchanges.update": EventSpec(channel="exchanges", payload=ExchangesOut),
    "network.update": EventSpec(channel="network", payload=NetworkStats),
    "block.new": EventSpec(channel="blocks", payload=NewBlock),
    "notary.update": EventSpec(channel="notarizations", payload=NotarizationOut),
    "notary.verified": EventSpec(channel="notarizations", payload=NotaryVerified),
    "issue.update": EventSpec(channel="issues", payload=IssueOut),
    "approval.pending": EventSpec(channel="issues", payload=IssueOut),
    "issue.alert": EventSpec(channel="issues", payload=IssueAlert),
    "issuer.status": EventSpec(channel="issues", payload=IssuerRunState),
    "issuer.signer": EventSpec(channel="issues", payload=SignerStatusOut),
    "issuer.started": EventSpec(channel="issues", payload=IssuerStarted),
    "wallet.login": EventSpec(channel="wallet", payload=WalletLoginEvent),
    "key.changed": EventSpec(channel="auth.keys", payload=KeyChanged),
}


def parse_payload(event_type: str, data: dict[str, Any]) -> BaseModel | None:
    """The typed payload of an event, or None for a type this contract does not know (a newer
    server may add types; a client skips them rather than failing)."""
    spec = EVENTS.get(event_type)
    return None if spec is None else spec.payload.model_validate(data)


# --- Frames on /ws -----------------------------------------------------------------------------


class EventFrame(BaseModel):
    type: Literal["event"] = "event"
    channel: str
    event: str
    data: dict[str, Any]
    ts: float


class AuthOkFrame(BaseModel):
    type: Literal["auth_ok"] = "auth_ok"
    key_id: str
    scopes: list[str]
    channels: list[str]


class ErrorFrame(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
