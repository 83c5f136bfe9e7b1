"""The issuer's operator API: status, issues, approve/reject (scope `issuer:approve`),
reconciliation, and the websocket the signing service dials into."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request, WebSocket

from backend.api.deps import ReadKey, find_service, require, service
from backend.api.errors import ApiError
from backend.api.params import COMMON_ERRORS, MAX_ID, RowId, aware_utc, check_order
from backend.auth.service import KeyInfo
from backend.issuer.errors import IssuerConfigError, IssuerError
from backend.issuer.service import DecisionConflict, IssueNotFound, IssuerService
from backend.issuer.states import ALL_STATES
from backend.issuer.store import dt_to_ms
from backend.ndau import signer_protocol as proto
from hashinsight_contract.issuer import (
    ApproveIn,
    IssueDetailOut,
    IssueListOut,
    IssueOut,
    IssuerStatusOut,
    ReconciliationOut,
    RejectIn,
    RetryIn,
    StartIn,
)

router = APIRouter(prefix="/api/v1/issuer", tags=["issuer"], responses=COMMON_ERRORS)
T = TypeVar("T")
ApproveKey = Annotated[KeyInfo, Depends(require("issuer:approve"))]
Issuer = Annotated[IssuerService, Depends(service(IssuerService))]


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _guarded(work: Awaitable[T]) -> T:
    try:
        return await work
    except IssueNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except DecisionConflict as exc:
        raise ApiError(409, str(exc)) from None
    except IssuerConfigError as exc:
        raise ApiError(400, str(exc)) from None
    except IssuerError as exc:
        raise ApiError(503, str(exc)) from None


@router.get("/status", response_model=IssuerStatusOut, summary="Issuer status")
async def status(_key: ReadKey, issuer: Issuer) -> IssuerStatusOut:
    """Bitmart poll, cursor, signer connection, node and RFE sequence, totals, lease holder."""
    return await issuer.status()


@router.get("/issues", response_model=IssueListOut, summary="Issues, newest first")
async def list_issues(
    _key: ReadKey,
    issuer: Issuer,
    state: Annotated[
        list[str] | None, Query(description="filter; repeat or comma-separate")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> IssueListOut:
    states = [s.strip() for item in state or [] for s in item.split(",") if s.strip()]
    unknown = sorted(set(states) - set(ALL_STATES))
    if unknown:
        raise ApiError(400, f"unknown state {unknown[0]!r}; known: {', '.join(ALL_STATES)}")
    return await issuer.list_issues(states or None, limit, before_id)


@router.get("/issues/{issue_id}", response_model=IssueDetailOut, summary="One issue and trades")
async def issue_detail(issue_id: RowId, _key: ReadKey, issuer: Issuer) -> IssueDetailOut:
    return await _guarded(issuer.issue_detail(issue_id))


@router.post(
    "/issues/{issue_id}/approve", response_model=IssueOut, summary="Approve an issue (semi-auto)"
)
async def approve(
    issue_id: RowId, body: ApproveIn, key: ApproveKey, issuer: Issuer, request: Request
) -> IssueOut:
    """Audited with who (the key), when and why. 409 unless the issue awaits approval."""
    decided = issuer.decide(
        issue_id, approve=True, actor=key.actor, reason=body.reason, source=_source(request)
    )
    return await _guarded(decided)


@router.post("/issues/{issue_id}/reject", response_model=IssueOut, summary="Reject an issue")
async def reject(
    issue_id: RowId, body: RejectIn, key: ApproveKey, issuer: Issuer, request: Request
) -> IssueOut:
    """The trades stay attached to the rejected issue, so they are never issued later."""
    decided = issuer.decide(
        issue_id, approve=False, actor=key.actor, reason=body.reason, source=_source(request)
    )
    return await _guarded(decided)


@router.post("/issues/{issue_id}/retry", response_model=IssueOut, summary="Retry a failed issue")
async def retry(
    issue_id: RowId, body: RetryIn, key: ApproveKey, issuer: Issuer, request: Request
) -> IssueOut:
    """Resumes with the same signed tx when there is one; never picks a new sequence itself."""
    retried = issuer.retry(issue_id, actor=key.actor, reason=body.reason, source=_source(request))
    return await _guarded(retried)


@router.post("/start", response_model=IssuerStatusOut, summary="Set the first starting point")
async def start(
    body: StartIn, key: ApproveKey, issuer: Issuer, request: Request
) -> IssuerStatusOut:
    """Only once, on the very first start: from when on Bitmart sales are issued."""
    started = issuer.set_start(body.start, actor=key.actor, source=_source(request))
    return await _guarded(started)


# Re-reading Bitmart shares the issuer's rate budget; a month of trades is a few pages.
MAX_LIVE_RANGE = timedelta(days=31)


@router.get(
    "/reconciliation", response_model=ReconciliationOut, summary="Sales vs issued, for a range"
)
async def reconciliation(
    key: ReadKey,
    issuer: Issuer,
    start: Annotated[datetime | None, Query(description="ISO-8601; default end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="ISO-8601; default now")] = None,
    live: Annotated[bool, Query(description="also sum Bitmart's own answer for the range")] = False,
) -> ReconciliationOut:
    end = aware_utc(end, "end") if end is not None else datetime.now(UTC)
    start = aware_utc(start, "start") if start is not None else end - timedelta(hours=24)
    check_order(start, end)
    if live:  # Bitmart is asked again, from the issuer's own rate budget: not for any reader
        if not key.has("issuer:approve"):
            raise ApiError(403, "live=true needs the issuer:approve scope", code="forbidden")
        if end - start > MAX_LIVE_RANGE:
            raise ApiError(422, f"live=true covers at most {MAX_LIVE_RANGE.days} days")
    summed = issuer.reconciliation(dt_to_ms(start), dt_to_ms(end), live=live)
    return await _guarded(summed)


@router.websocket("/signer")
async def signer_socket(websocket: WebSocket) -> None:
    """The signing service dials in here; see backend/issuer/SIGNER_PROTOCOL.md."""
    await websocket.accept()
    issuer = find_service(websocket.app.state.backend, IssuerService)
    if issuer is None or not issuer.enabled:
        await websocket.close(code=1013, reason="issuer not running")
        return
    client = websocket.client
    remote = f"{client.host}:{client.port}" if client else "?"
    await issuer.hub.serve(websocket, remote)


assert proto.PATH == "/api/v1/issuer/signer"
