"""Fleet routes: summary, miners (filter, sort, page), history, commands, approvals, alerts,
control credentials (admin).

Thin: everything is answered by the fleet service from memory (miners) or its store
(history, alerts, command log). Lists of thousands of miners skip per-item model validation
(they are built by the service in the documented shape) and go out as one JSON response.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.api.deps import AdminKey, BackendDep, ReadKey, require, running_service
from backend.api.errors import ApiError
from backend.api.params import (
    COMMON_ERRORS,
    ID_PATTERN,
    MinerId,
    ObjectId,
    Offset,
    RowId,
)
from backend.auth.service import KeyInfo
from backend.fleet.acks import (
    MAX_SILENCE_MIN,
    alert_webhooks,
    silence,
    silence_fields,
    silences_for,
)
from backend.fleet.alerts import ACK_NOTE_MAX
from backend.fleet.commands import CommandError
from backend.fleet.credentials import FACTORY_DEFAULTS, CredentialError
from backend.fleet.service import FleetService
from hashinsight_contract.fleet import (
    AlertOut,
    AlertState,
    BulkCommandOut,
    BulkCommandRequest,
    CommandList,
    CommandOut,
    CommandRequest,
    CommandState,
    CredentialIn,
    CredentialKind,
    CredentialList,
    CredentialOut,
    CredentialScope,
    DecisionRequest,
    FleetSummary,
    MinerHistory,
    MinerList,
    MinerOut,
    Period,
)

router = APIRouter(tags=["fleet"], responses=COMMON_ERRORS)
ControlKey = Annotated[KeyInfo, Depends(require("fleet:control"))]
SORTABLE = frozenset(MinerOut.model_fields) - {"boards", "pools", "fans_rpm", "capabilities"}


def _fleet(backend: Any) -> FleetService:
    return running_service(backend, "fleet", FleetService)


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _split(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@router.get("/api/v1/fleet/summary", response_model=FleetSummary, summary="The fleet at a glance")
async def fleet_summary(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    return _fleet(backend).summary()


@router.get(
    "/api/v1/miners",
    response_model=MinerList,
    summary="Miners, filtered, sorted and paginated",
    description="Filters take comma-separated values; `q` searches id, host, model, firmware, "
    "labels and error text. `fields=summary` leaves out boards and pools. Missing values sort "
    "last in either order.",
)
async def list_miners(
    _key: ReadKey,
    backend: BackendDep,
    site: Annotated[str | None, Query(max_length=1000)] = None,
    status: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=1000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str, Query(max_length=40)] = "id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
    fields: Annotated[str | None, Query(pattern="^(summary|full)$")] = None,
) -> JSONResponse:
    if sort not in SORTABLE:
        raise ApiError(422, f"cannot sort by {sort!r}; sortable: {', '.join(sorted(SORTABLE))}")
    fleet = _fleet(backend)
    items = fleet.miners(summary=fields == "summary")
    sites, statuses, models = _split(site), _split(status), _split(model)
    needle = q.strip().lower() if q and q.strip() else None
    if sites or statuses or models or needle:
        items = [m for m in items if _matches(m, sites, statuses, models, needle)]
    present = [m for m in items if m.get(sort) is not None]
    missing = [m for m in items if m.get(sort) is None]
    present.sort(key=lambda m: _sort_key(m[sort]), reverse=order == "desc")
    ordered = present + missing
    page = ordered[offset : offset + limit]
    return JSONResponse({"items": page, "total": len(ordered), "limit": limit, "offset": offset})


def _matches(
    miner: dict[str, Any],
    sites: set[str] | None,
    statuses: set[str] | None,
    models: set[str] | None,
    needle: str | None,
) -> bool:
    if sites is not None and str(miner.get("site") or "").lower() not in sites:
        return False
    if statuses is not None and miner["status"] not in statuses:
        return False
    if models is not None and str(miner.get("model") or "").lower() not in models:
        return False
    if needle is not None:
        text = " ".join(
            str(miner.get(k) or "")
            for k in ("id", "host", "model", "firmware", "site", "rack", "position", "error")
        ).lower()
        return needle in text
    return True


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


@router.get("/api/v1/miners/{miner_id}", response_model=MinerOut, summary="One miner, in full")
async def get_miner(miner_id: MinerId, _key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    fleet = _fleet(backend)
    miner = fleet.miner(miner_id)
    if miner is None:
        raise ApiError(404, f"no miner {miner_id!r}")
    if fleet.state(miner_id) is None:
        return miner
    capabilities = fleet.commands.capabilities(miner_id, miner)
    return {**miner, "capabilities": {k: c.to_dict() for k, c in capabilities.items()}}


@router.get(
    "/api/v1/miners/{miner_id}/history",
    response_model=MinerHistory,
    summary="Telemetry of one miner: raw samples for 1h, 5-minute rollups beyond",
)
async def miner_history(
    miner_id: MinerId, _key: ReadKey, backend: BackendDep, period: Period = "1h"
) -> dict[str, Any]:
    fleet = _fleet(backend)
    if fleet.state(miner_id) is None:
        raise ApiError(404, f"no miner {miner_id!r}")
    return await fleet.history(miner_id, period)


@router.post(
    "/api/v1/miners/{miner_id}/commands",
    response_model=CommandOut,
    summary="Send a command to one miner (semi-auto keys: queued for approval, 202)",
    responses={202: {"model": CommandOut, "description": "Queued for approval"}},
)
async def miner_command(
    miner_id: MinerId,
    body: CommandRequest,
    key: ControlKey,
    backend: BackendDep,
    request: Request,
) -> JSONResponse:
    results = await _run(backend, [miner_id], body, key, request)
    status = 202 if results[0]["state"] == "pending_approval" else 200
    return JSONResponse(CommandOut(**results[0]).model_dump(mode="json"), status_code=status)


@router.post(
    "/api/v1/miners/commands",
    response_model=BulkCommandOut,
    summary="Send a command to many miners; one result per miner, in order",
    responses={202: {"model": BulkCommandOut, "description": "Queued for approval"}},
)
async def bulk_command(
    body: BulkCommandRequest, key: ControlKey, backend: BackendDep, request: Request
) -> JSONResponse:
    results = await _run(backend, body.miner_ids, body, key, request)
    pending = all(r["state"] == "pending_approval" for r in results)
    return JSONResponse({"results": results}, status_code=202 if pending else 200)


async def _run(
    backend: Any,
    miner_ids: list[str],
    body: CommandRequest,
    key: KeyInfo,
    request: Request,
) -> list[dict[str, Any]]:
    try:
        return await _fleet(backend).commands.request(
            miner_ids, body.command, body.params, key=key, source=_source(request)
        )
    except CommandError as exc:
        raise ApiError(exc.status, exc.message) from None


@router.get(
    "/api/v1/fleet/commands",
    response_model=CommandList,
    summary="The command log, newest first (state=pending_approval: the approval queue)",
)
async def list_commands(
    _key: ReadKey,
    backend: BackendDep,
    state: CommandState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await _fleet(backend).commands.list(state, limit, offset)
    return {"items": items, "total": total}


@router.post(
    "/api/v1/fleet/commands/{command_id}/approve",
    response_model=CommandOut,
    summary="Approve a pending command (by a key other than the requester's); it runs now",
)
async def approve_command(
    command_id: ObjectId,
    body: DecisionRequest,
    key: ControlKey,
    backend: BackendDep,
    request: Request,
) -> dict[str, Any]:
    try:
        return await _fleet(backend).commands.approve(
            command_id, key=key, reason=body.reason, source=_source(request)
        )
    except CommandError as exc:
        raise ApiError(exc.status, exc.message) from None


@router.post(
    "/api/v1/fleet/commands/{command_id}/reject",
    response_model=CommandOut,
    summary="Reject a pending command (by a key other than the requester's)",
)
async def reject_command(
    command_id: ObjectId,
    body: DecisionRequest,
    key: ControlKey,
    backend: BackendDep,
    request: Request,
) -> dict[str, Any]:
    try:
        return await _fleet(backend).commands.reject(
            command_id, key=key, reason=body.reason, source=_source(request)
        )
    except CommandError as exc:
        raise ApiError(exc.status, exc.message) from None


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


class AcknowledgeRequest(BaseModel):
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=ACK_NOTE_MAX,
        description="what is being done about it; shown to every console and audited",
    )


class SilenceRequest(BaseModel):
    minutes: float = Field(ge=0, le=MAX_SILENCE_MIN, description="0 lifts the silence")
    reason: str = Field(min_length=1, max_length=500)


class AlertRouting(BaseModel):
    """Where alerts go besides the consoles (configured elsewhere; shown, not changed here)."""

    email_enabled: bool
    email_recipients: int
    email_min_severity: str
    webhooks: int = Field(description="active partner webhooks that receive miner alerts")


async def _alert_views(backend: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fleet = _fleet(backend)
    silences = await silences_for(backend.db, [int(item["id"]) for item in items])
    now = fleet.clock.now()
    views = []
    for item in items:
        miner = fleet.miner(item["miner_id"]) or {}
        place = {key: miner.get(key) for key in ("site", "rack", "position")}
        views.append({**item, **place, **silence_fields(silences.get(int(item["id"])), now)})
    return views


@router.get("/api/v1/alerts", response_model=AlertViewList, summary="Fleet alerts, newest first")
async def list_alerts(
    _key: ReadKey,
    backend: BackendDep,
    state: AlertState | None = None,
    miner_id: Annotated[str | None, Query(max_length=255, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await _fleet(backend).alerts(
        state=state, miner_id=miner_id, limit=limit, offset=offset
    )
    return {"items": await _alert_views(backend, items), "total": total}


@router.get(
    "/api/v1/alerts/routing",
    response_model=AlertRouting,
    summary="Where alerts are sent: email recipients and partner webhooks",
)
async def alert_routing(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    settings = backend.settings
    mailer = _fleet(backend).mailer
    return {
        "email_enabled": bool(mailer is not None and mailer.enabled),
        "email_recipients": len(mailer.recipients) if mailer is not None else 0,
        "email_min_severity": settings.fleet_alert_email_min_severity,
        "webhooks": await alert_webhooks(backend.db),
    }


@router.post(
    "/api/v1/alerts/{alert_id}/acknowledge",
    response_model=AlertView,
    summary="Acknowledge a raised alert (it stays open until its condition clears)",
)
async def acknowledge_alert(
    alert_id: RowId,
    key: ControlKey,
    backend: BackendDep,
    request: Request,
    body: AcknowledgeRequest | None = None,
) -> dict[str, Any]:
    note = (body.reason or "").strip() if body is not None else ""
    alert = await _fleet(backend).acknowledge(
        alert_id, actor=key.actor, source=_source(request), note=note or None
    )
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    return (await _alert_views(backend, [alert]))[0]


@router.post(
    "/api/v1/alerts/{alert_id}/silence",
    response_model=AlertView,
    summary="Silence an open alert for a while, with a reason (0 minutes lifts it; audited)",
)
async def silence_alert(
    alert_id: RowId, body: SilenceRequest, key: ControlKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    fleet = _fleet(backend)
    alert = await silence(
        backend.db,
        backend.bus,
        alert_id,
        minutes=body.minutes,
        reason=body.reason,
        actor=key.actor,
        now=fleet.clock.now(),
        source=_source(request),
    )
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    if alert["state"] == "cleared":
        raise ApiError(409, f"alert {alert_id} is cleared: nothing to silence")
    return (await _alert_views(backend, [alert]))[0]


@router.get(
    "/api/v1/fleet/credentials",
    response_model=CredentialList,
    summary="Control credentials per site and miner (passwords masked), and the defaults",
)
async def list_credentials(_key: AdminKey, backend: BackendDep) -> dict[str, Any]:
    items = await _fleet(backend).credentials.list()
    return {"items": items, "defaults": _defaults()}


@router.put(
    "/api/v1/fleet/credentials",
    response_model=CredentialOut,
    summary="Store control credentials for a site or a miner (the password is encrypted)",
)
async def set_credentials(
    body: CredentialIn, key: AdminKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    fleet = _fleet(backend)
    try:
        return await fleet.credentials.set(
            scope=body.scope,
            target=body.target,
            kind=body.kind,
            username=body.user,
            password=body.password,
            port=body.port,
            actor=key.actor,
            now=fleet.clock.now(),
            source=_source(request),
        )
    except CredentialError as exc:
        raise ApiError(422, str(exc)) from None


@router.delete(
    "/api/v1/fleet/credentials/{scope}/{kind}",
    status_code=204,
    summary="Remove stored control credentials (the factory default applies again)",
    description="Idempotent: answers 204 whether or not anything was stored.",
)
async def remove_credentials(
    scope: CredentialScope,
    kind: CredentialKind,
    key: AdminKey,
    backend: BackendDep,
    request: Request,
    target: Annotated[str, Query(min_length=1, max_length=200)],
) -> None:
    await _fleet(backend).credentials.remove(
        scope=scope, target=target, kind=kind, actor=key.actor, source=_source(request)
    )


def _defaults() -> dict[str, str]:
    words = {}
    for kind, (user, password) in FACTORY_DEFAULTS.items():
        login = f"user {user}" if user else "no user"
        secret = "the factory password" if password else "no password"
        words[kind] = f"factory default: {login}, {secret}"
    return words
