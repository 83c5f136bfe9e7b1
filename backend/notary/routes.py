"""Notarizations: request one, list them, read one, verify one; and pinned bytes by CID."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from backend.api.deps import AdminKey, ReadKey, service
from backend.api.errors import ApiError
from backend.api.params import COMMON_ERRORS, Offset, RowId
from backend.api.unavailable import unavailable_as_503
from backend.notary.cid import InvalidCid
from backend.notary.ipfs_store import ContentCorrupt, ContentNotFound
from backend.notary.service import NotaryService, NotaryUnavailable
from hashinsight_contract.notary import (
    NotarizationList,
    NotarizationOut,
    NotarizationRequest,
    NotaryInfo,
    VerificationOut,
)

router = APIRouter(tags=["notary"], responses=COMMON_ERRORS)
Notary = Annotated[NotaryService, Depends(service(NotaryService))]


@router.get("/api/v1/notary", response_model=NotaryInfo, summary="How this backend notarizes")
async def notary_info(_key: ReadKey, notary: Notary) -> NotaryInfo:
    return notary.info()


@router.post(
    "/api/v1/notarizations",
    response_model=NotarizationOut,
    status_code=202,
    summary="Notarize a report now (the pipeline runs in the background)",
)
async def request_notarization(
    key: AdminKey, notary: Notary, body: NotarizationRequest | None = None
) -> NotarizationOut:
    with unavailable_as_503(NotaryUnavailable):
        return await notary.request(
            requested_by=key.actor, period_h=body.period_hours if body else None
        )


@router.get("/api/v1/notarizations", response_model=NotarizationList, summary="Notarizations")
async def list_notarizations(
    _key: ReadKey,
    notary: Notary,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(running|completed|failed)$")] = None,
) -> NotarizationList:
    with unavailable_as_503(NotaryUnavailable):
        return await notary.list(limit=limit, offset=offset, status=status)


async def _get(notary: NotaryService, notarization_id: int) -> NotarizationOut:
    with unavailable_as_503(NotaryUnavailable):
        view = await notary.get(notarization_id)
    if view is None:
        raise ApiError(404, f"no notarization {notarization_id}")
    return view


@router.get(
    "/api/v1/notarizations/{notarization_id}",
    response_model=NotarizationOut,
    summary="One notarization with each step's state",
)
async def get_notarization(
    notarization_id: RowId, _key: ReadKey, notary: Notary
) -> NotarizationOut:
    return await _get(notary, notarization_id)


@router.get(
    "/api/v1/notarizations/{notarization_id}/document",
    summary="The canonical JSON document that was hashed and signed",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
async def get_document(notarization_id: RowId, _key: ReadKey, notary: Notary) -> Response:
    await _get(notary, notarization_id)
    document = await notary.document(notarization_id)
    if document is None:
        raise ApiError(404, f"notarization {notarization_id} has no document yet")
    return Response(document, media_type="application/json")


@router.post(
    "/api/v1/notarizations/{notarization_id}/verify",
    response_model=VerificationOut,
    summary="Fetch by CID, recompute the hash, recover the signer, check the anchor",
)
async def verify_notarization(
    notarization_id: RowId, _key: ReadKey, notary: Notary
) -> VerificationOut:
    await _get(notary, notarization_id)
    result = await notary.verify(notarization_id)
    if result is None:
        raise ApiError(404, f"no notarization {notarization_id}")
    return result


@router.post(
    "/api/v1/notarizations/{notarization_id}/retry",
    response_model=NotarizationOut,
    summary="Run a failed notarization again from the step that failed",
)
async def retry_notarization(
    notarization_id: RowId, key: AdminKey, notary: Notary
) -> NotarizationOut:
    view = await _get(notary, notarization_id)
    if view.status != "failed":
        raise ApiError(409, f"notarization {notarization_id} is {view.status}, not failed")
    result = await notary.retry(notarization_id, key.actor)
    assert result is not None
    return result


@router.get(
    "/ipfs/{cid}",
    summary="Pinned bytes by CID from the local store (no key: CIDs are content hashes)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
    tags=["notary"],
)
async def ipfs_content(
    cid: Annotated[str, Path(min_length=1, max_length=128)], notary: Notary
) -> Response:
    try:
        data = await notary.cat(cid)
    except InvalidCid:
        raise ApiError(400, "not a CIDv0/CIDv1 dag-pb sha2-256 CID") from None
    except ContentNotFound:
        raise ApiError(404, f"{cid} is not in this backend's store") from None
    except ContentCorrupt:
        raise ApiError(500, f"the stored content of {cid} is damaged") from None
    return Response(
        data,
        media_type="application/json",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": f'"{cid}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
