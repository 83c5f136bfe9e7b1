"""The issuer's operator API: status, issues, approve/reject (scope `issuer:approve`),
reconciliation, and the websocket the signing service dials into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket

from backend.api.deps import BackendDep, ReadKey, require, running_service
from backend.api.errors import ApiError
from backend.api.params import COMMON_ERRORS, MAX_ID, RowId, aware_utc, check_order
from backend.auth.service import KeyInfo
from backend.issuer import signer_protocol as proto
from backend.issuer.errors import IssuerConfigError, IssuerError
from backend.issuer.service import DecisionConflict, IssueNotFound, IssuerService
from backend.issuer.states import ALL_STATES
from backend.issuer.store import dt_to_ms
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

if TYPE_CHECKING:
    from backend.runtime import Backend

router = APIRouter(prefix="/api/v1/issuer", tags=["issuer"], responses=COMMON_ERRORS)
ApproveKey = Annotated[KeyInfo, Depends(require("issuer:approve"))]


def _service(backend: Backend) -> IssuerService:
    return running_service(backend, "issuer", IssuerService)


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _guarded(work: Any) -> Any:
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
async def status(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    """Bitmart poll, cursor, signer connection, node and RFE sequence, totals, lease holder."""
    return await _service(backend).status()


@router.get("/issues", response_model=IssueListOut, summary="Issues, newest first")
async def list_issues(
    _key: ReadKey,
    backend: BackendDep,
    state: Annotated[
        list[str] | None, Query(description="filter; repeat or comma-separate")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    states = [s.strip() for item in state or [] for s in item.split(",") if s.strip()]
    unknown = sorted(set(states) - set(ALL_STATES))
    if unknown:
        raise ApiError(400, f"unknown state {unknown[0]!r}; known: {', '.join(ALL_STATES)}")
    issues = await _service(backend).list_issues(states or None, limit, before_id)
    next_before = issues[-1]["id"] if len(issues) == limit else None
    return {"issues": issues, "next_before_id": next_before}


@router.get("/issues/{issue_id}", response_model=IssueDetailOut, summary="One issue and trades")
async def issue_detail(issue_id: RowId, _key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    return await _guarded(_service(backend).issue_detail(issue_id))


@router.post(
    "/issues/{issue_id}/approve", response_model=IssueOut, summary="Approve an issue (semi-auto)"
)
async def approve(
    issue_id: RowId, body: ApproveIn, key: ApproveKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    """Audited with who (the key), when and why. 409 unless the issue awaits approval."""
    service = _service(backend)
    return await _guarded(
        service.decide(
            issue_id, approve=True, actor=key.actor, reason=body.reason, source=_source(request)
        )
    )


@router.post("/issues/{issue_id}/reject", response_model=IssueOut, summary="Reject an issue")
async def reject(
    issue_id: RowId, body: RejectIn, key: ApproveKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    """The trades stay attached to the rejected issue, so they are never issued later."""
    service = _service(backend)
    return await _guarded(
        service.decide(
            issue_id, approve=False, actor=key.actor, reason=body.reason, source=_source(request)
        )
    )


@router.post("/issues/{issue_id}/retry", response_model=IssueOut, summary="Retry a failed issue")
async def retry(
    issue_id: RowId, body: RetryIn, key: ApproveKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    """Resumes with the same signed tx when there is one; never picks a new sequence itself."""
    service = _service(backend)
    return await _guarded(
        service.retry(issue_id, actor=key.actor, reason=body.reason, source=_source(request))
    )


@router.post("/start", response_model=IssuerStatusOut, summary="Set the first starting point")
async def start(
    body: StartIn, key: ApproveKey, backend: BackendDep, request: Request
) -> dict[str, Any]:
    """Only once, on the very first start: from when on Bitmart sales are issued."""
    service = _service(backend)
    return await _guarded(service.set_start(body.start, actor=key.actor, source=_source(request)))


@router.get(
    "/reconciliation", response_model=ReconciliationOut, summary="Sales vs issued, for a range"
)
async def reconciliation(
    _key: ReadKey,
    backend: BackendDep,
    start: Annotated[datetime | None, Query(description="ISO-8601; default end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="ISO-8601; default now")] = None,
    live: Annotated[bool, Query(description="also sum Bitmart's own answer for the range")] = False,
) -> dict[str, Any]:
    end = aware_utc(end, "end") if end is not None else datetime.now(UTC)
    start = aware_utc(start, "start") if start is not None else end - timedelta(hours=24)
    check_order(start, end)
    service = _service(backend)
    return await _guarded(service.reconciliation(dt_to_ms(start), dt_to_ms(end), live=live))


@router.websocket("/signer")
async def signer_socket(websocket: WebSocket) -> None:
    """The signing service dials in here; see backend/issuer/SIGNER_PROTOCOL.md."""
    await websocket.accept()
    service = websocket.app.state.backend.services_by_name.get("issuer")
    if not isinstance(service, IssuerService) or not service.enabled:
        await websocket.close(code=1013, reason="issuer not running")
        return
    client = websocket.client
    remote = f"{client.host}:{client.port}" if client else "?"
    await service.hub.serve(websocket, remote)


assert proto.PATH == "/api/v1/issuer/signer"
