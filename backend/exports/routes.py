"""Bulk exports: request one (runs in the background), follow it, download it, delete it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse

from backend.api.deps import BackendDep, CurrentKey, ExportKey, service
from backend.api.errors import ApiError
from backend.api.params import ObjectId, Offset, check_order, parse_time
from backend.auth.service import KeyInfo
from backend.auth.tiers import tier_for
from backend.exports.datasets import datasets, get_dataset
from backend.exports.models import ExportRow
from backend.exports.service import ExportError, ExportService
from backend.exports.views import download_name, export_view, media_type
from hashinsight_contract.partners import (
    ERRORS,
    DatasetList,
    DatasetOut,
    ExportCreate,
    ExportList,
    ExportOut,
)

router = APIRouter(prefix="/api/v1/exports", tags=["exports"], responses=ERRORS)
Exports = Annotated[ExportService, Depends(service(ExportService))]


def _may_see(caller: KeyInfo, row: ExportRow) -> bool:
    return caller.has("admin") or (
        caller.owner_type == row.owner_type and caller.owner_id == row.owner_id
    )


async def _owned(exports: ExportService, caller: KeyInfo, export_id: str) -> ExportRow:
    row = await exports.get(export_id)
    if row is None or not _may_see(caller, row):
        raise ApiError(404, f"no export {export_id}")
    return row


@router.get("/datasets", response_model=DatasetList, summary="Datasets this key may export")
async def list_datasets(caller: CurrentKey, backend: BackendDep) -> DatasetList:
    items = []
    for dataset in datasets():
        if not dataset.visible_to(caller):
            continue
        reason = dataset.unavailable(backend) if dataset.unavailable else None
        items.append(
            DatasetOut(
                name=dataset.name,
                description=dataset.description,
                columns=list(dataset.columns),
                available=reason is None,
                reason=reason,
            )
        )
    return DatasetList(items=items)


@router.post(
    "",
    response_model=ExportOut,
    status_code=202,
    summary="Start a bulk export (export scope, and a tier with bulk export)",
)
async def create_export(
    body: ExportCreate, caller: ExportKey, backend: BackendDep, exports: Exports
) -> ExportOut:
    if not tier_for(caller.tier, backend.settings).bulk_export:
        raise ApiError(
            403, f"the {caller.tier} tier does not include bulk export (enterprise does)"
        )
    dataset = get_dataset(body.dataset)
    if dataset is None or not dataset.visible_to(caller):
        known = ", ".join(d.name for d in datasets() if d.visible_to(caller))
        raise ApiError(404, f"no dataset {body.dataset!r}; known: {known}")
    start, end = parse_time(body.start, "start"), parse_time(body.end, "end")
    check_order(start, end)
    reason = dataset.unavailable(backend) if dataset.unavailable else None
    if reason is not None:
        raise ApiError(409, f"dataset {dataset.name} is unavailable: {reason}")
    try:
        return await exports.create(
            caller,
            dataset=dataset,
            fmt=body.format,
            compress=body.gzip,
            start=start,
            end=end,
            backend=backend,
        )
    except ExportError as exc:
        raise ApiError(422, str(exc)) from None


@router.get("", response_model=ExportList, summary="Exports of this key's owner (admins: all)")
async def list_exports(
    caller: CurrentKey,
    exports: Exports,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> ExportList:
    return await exports.list(caller, limit=limit, offset=offset)


@router.get("/{export_id}", response_model=ExportOut, summary="An export's status")
async def get_export(export_id: ObjectId, caller: CurrentKey, exports: Exports) -> ExportOut:
    return export_view(await _owned(exports, caller, export_id))


@router.get(
    "/{export_id}/download",
    summary="Download a completed export (application/json, text/csv or application/gzip)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/gzip": {},
            },
            "description": "The export file, streamed from disk",
        }
    },
)
async def download(export_id: ObjectId, caller: CurrentKey, exports: Exports) -> Response:
    row = await _owned(exports, caller, export_id)
    if row.status == "expired":
        raise ApiError(410, f"export {export_id} has expired; request a new one", code="gone")
    if row.status != "completed":
        raise ApiError(409, f"export {export_id} is {row.status}, not completed yet")
    path = exports.path_of(row)
    if not path.is_file():
        raise ApiError(410, f"the file of export {export_id} is gone", code="gone")
    return FileResponse(
        path,
        media_type=media_type(row),
        filename=download_name(row),
        headers={"Cache-Control": "private, no-store"},
    )


@router.delete("/{export_id}", status_code=204, summary="Delete an export and its file")
async def delete_export(export_id: ObjectId, caller: CurrentKey, exports: Exports) -> None:
    row = await _owned(exports, caller, export_id)
    await exports.delete(row)
