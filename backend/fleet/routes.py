"""Fleet routes: summary, miners (filter, sort, page), history, commands, approvals, alerts,
control credentials (admin).

Thin: everything is answered by the fleet service from memory (miners) or its store
(history, alerts, command log). Every answer is its contract model; the miner list is
validated and serialized by pydantic's core in one pass, and leaves out the fields a miner's
entry does not carry (boards and pools under `fields=summary`, capabilities), as it always has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field

from backend.api.deps import AdminKey, ReadKey, require, service
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
from backend.fleet.acks import MAX_SILENCE_MIN
from backend.fleet.alerts import ACK_NOTE_MAX
from backend.fleet.commands import CommandError
from backend.fleet.credentials import FACTORY_DEFAULTS, CredentialError
from backend.fleet.idempotency import (
    HEADER_PATTERN,
    MAX_KEY_CHARS,
    IdempotencyKeyError,
    parse_key,
)
from backend.fleet.listing import MinerQuery
from backend.fleet.service import FleetService
from hashinsight_contract.fleet import (
    AlertRouting,
    AlertState,
    AlertView,
    AlertViewList,
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


def _idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=(
                "Send the request again with the same key (a UUID, say) when its answer was "
                "lost: it runs once, and the retry gets its commands as they are now (header "
                "`Idempotent-Replayed: true`). Kept 24 h per API key; the same key with "
                "another request is 422."
            ),
            json_schema_extra={"pattern": HEADER_PATTERN, "maxLength": MAX_KEY_CHARS + 2},
        ),
    ] = None,
) -> str | None:
    if value is None:
        return None
    try:
        return parse_key(value)
    except IdempotencyKeyError as exc:
        raise ApiError(400, str(exc)) from None


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]
Fleet = Annotated[FleetService, Depends(service(FleetService))]
SORTABLE = frozenset(MinerOut.model_fields) - {"boards", "pools", "fans_rpm", "capabilities"}


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _split(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


@router.get("/api/v1/fleet/summary", response_model=FleetSummary, summary="The fleet at a glance")
async def fleet_summary(_key: ReadKey, fleet: Fleet) -> FleetSummary:
    return fleet.summary()


@router.get(
    "/api/v1/miners",
    response_model=MinerList,
    response_model_exclude_unset=True,
    summary="Miners, filtered, sorted and paginated",
    description="Filters take comma-separated values; `q` searches id, host, model, firmware, "
    "labels and error text. `fields=summary` leaves out boards and pools. Missing values sort "
    "last in either order.",
)
async def list_miners(
    _key: ReadKey,
    fleet: Fleet,
    site: Annotated[str | None, Query(max_length=1000)] = None,
    status: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=1000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str, Query(max_length=40)] = "id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
    fields: Annotated[str | None, Query(pattern="^(summary|full)$")] = None,
) -> MinerList:
    if sort not in SORTABLE:
        raise ApiError(422, f"cannot sort by {sort!r}; sortable: {', '.join(sorted(SORTABLE))}")
    query = MinerQuery(
        sites=_split(site),
        statuses=_split(status),
        models=_split(model),
        needle=q.strip().lower() if q and q.strip() else None,
        sort=sort,
        descending=order == "desc",
        offset=offset,
        limit=limit,
    )
    return fleet.miner_list(query, summary=fields == "summary")


@router.get("/api/v1/miners/{miner_id}", response_model=MinerOut, summary="One miner, in full")
async def get_miner(miner_id: MinerId, _key: ReadKey, fleet: Fleet) -> MinerOut:
    miner = fleet.miner_detail(miner_id)
    if miner is None:
        raise ApiError(404, f"no miner {miner_id!r}")
    return miner


@router.get(
    "/api/v1/miners/{miner_id}/history",
    response_model=MinerHistory,
    summary="Telemetry of one miner: raw samples for 1h, 5-minute rollups beyond",
)
async def miner_history(
    miner_id: MinerId, _key: ReadKey, fleet: Fleet, period: Period = "1h"
) -> MinerHistory:
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
    fleet: Fleet,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> CommandOut:
    result = (await _run(fleet, [miner_id], body, key, request, response, idempotency_key))[0]
    if result.state == "pending_approval":
        response.status_code = 202
    return result


@router.post(
    "/api/v1/miners/commands",
    response_model=BulkCommandOut,
    summary="Send a command to many miners; one result per miner, in order",
    responses={202: {"model": BulkCommandOut, "description": "Queued for approval"}},
)
async def bulk_command(
    body: BulkCommandRequest,
    key: ControlKey,
    fleet: Fleet,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> BulkCommandOut:
    results = await _run(fleet, body.miner_ids, body, key, request, response, idempotency_key)
    answer = BulkCommandOut(results=results)
    if all(result.state == "pending_approval" for result in answer.results):
        response.status_code = 202
    return answer


async def _run(
    fleet: FleetService,
    miner_ids: list[str],
    body: CommandRequest,
    key: KeyInfo,
    request: Request,
    response: Response,
    idempotency_key: str | None,
) -> list[CommandOut]:
    try:
        results, replayed = await fleet.commands.request_once(
            miner_ids,
            body.command,
            body.params,
            key=key,
            source=_source(request),
            idempotency_key=idempotency_key,
        )
    except CommandError as exc:
        raise ApiError(exc.status, exc.message) from None
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return results


@router.get(
    "/api/v1/fleet/commands",
    response_model=CommandList,
    summary="The command log, newest first (state=pending_approval: the approval queue)",
)
async def list_commands(
    _key: ReadKey,
    fleet: Fleet,
    state: CommandState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> CommandList:
    items, total = await fleet.commands.list(state, limit, offset)
    return CommandList(items=items, total=total)


@router.post(
    "/api/v1/fleet/commands/{command_id}/approve",
    response_model=CommandOut,
    summary="Approve a pending command (by a key other than the requester's); it runs now",
)
async def approve_command(
    command_id: ObjectId,
    body: DecisionRequest,
    key: ControlKey,
    fleet: Fleet,
    request: Request,
) -> CommandOut:
    return await _decide(fleet.commands.approve, command_id, body, key, request)


@router.post(
    "/api/v1/fleet/commands/{command_id}/reject",
    response_model=CommandOut,
    summary="Reject a pending command (by a key other than the requester's)",
)
async def reject_command(
    command_id: ObjectId,
    body: DecisionRequest,
    key: ControlKey,
    fleet: Fleet,
    request: Request,
) -> CommandOut:
    return await _decide(fleet.commands.reject, command_id, body, key, request)


async def _decide(
    decide: Callable[..., Awaitable[CommandOut]],
    command_id: str,
    body: DecisionRequest,
    key: KeyInfo,
    request: Request,
) -> CommandOut:
    """Approve or reject: the same call and the same refusals (403, 404, 409) for both."""
    try:
        return await decide(command_id, key=key, reason=body.reason, source=_source(request))
    except CommandError as exc:
        raise ApiError(exc.status, exc.message) from None


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


@router.get("/api/v1/alerts", response_model=AlertViewList, summary="Fleet alerts, newest first")
async def list_alerts(
    _key: ReadKey,
    fleet: Fleet,
    state: AlertState | None = None,
    miner_id: Annotated[str | None, Query(max_length=255, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> AlertViewList:
    items, total = await fleet.alerts(state=state, miner_id=miner_id, limit=limit, offset=offset)
    return AlertViewList(items=items, total=total)


@router.get(
    "/api/v1/alerts/routing",
    response_model=AlertRouting,
    summary="Where alerts are sent: email recipients and partner webhooks",
)
async def alert_routing(_key: ReadKey, fleet: Fleet) -> AlertRouting:
    return await fleet.alert_routing()


@router.post(
    "/api/v1/alerts/{alert_id}/acknowledge",
    response_model=AlertView,
    summary="Acknowledge a raised alert (it stays open until its condition clears)",
)
async def acknowledge_alert(
    alert_id: RowId,
    key: ControlKey,
    fleet: Fleet,
    request: Request,
    body: AcknowledgeRequest | None = None,
) -> AlertView:
    note = (body.reason or "").strip() if body is not None else ""
    alert = await fleet.acknowledge(
        alert_id, actor=key.actor, source=_source(request), note=note or None
    )
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    return alert


@router.post(
    "/api/v1/alerts/{alert_id}/silence",
    response_model=AlertView,
    summary="Silence an open alert for a while, with a reason (0 minutes lifts it; audited)",
)
async def silence_alert(
    alert_id: RowId,
    body: SilenceRequest,
    key: ControlKey,
    fleet: Fleet,
    request: Request,
) -> AlertView:
    alert = await fleet.silence(
        alert_id,
        minutes=body.minutes,
        reason=body.reason,
        actor=key.actor,
        source=_source(request),
    )
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    if alert.state == "cleared":
        raise ApiError(409, f"alert {alert_id} is cleared: nothing to silence")
    return alert


@router.get(
    "/api/v1/fleet/credentials",
    response_model=CredentialList,
    summary="Control credentials per site and miner (passwords masked), and the defaults",
)
async def list_credentials(_key: AdminKey, fleet: Fleet) -> CredentialList:
    return CredentialList(items=await fleet.credentials.list(), defaults=_defaults())


@router.put(
    "/api/v1/fleet/credentials",
    response_model=CredentialOut,
    summary="Store control credentials for a site or a miner (the password is encrypted)",
)
async def set_credentials(
    body: CredentialIn, key: AdminKey, fleet: Fleet, request: Request
) -> CredentialOut:
    try:
        view = await fleet.credentials.set(
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
    return view


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
    fleet: Fleet,
    request: Request,
    target: Annotated[str, Query(min_length=1, max_length=200)],
) -> None:
    await fleet.credentials.remove(
        scope=scope, target=target, kind=kind, actor=key.actor, source=_source(request)
    )


def _defaults() -> dict[str, str]:
    words = {}
    for kind, (user, password) in FACTORY_DEFAULTS.items():
        login = f"user {user}" if user else "no user"
        secret = "the factory password" if password else "no password"
        words[kind] = f"factory default: {login}, {secret}"
    return words
