"""How an export job is shown: its API answer, the download's media type and file name."""

from __future__ import annotations

from datetime import datetime

from backend.exports.models import ExportRow
from hashinsight_contract.partners import ExportOut

MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_view(row: ExportRow) -> ExportOut:
    base = f"/api/v1/exports/{row.export_id}"
    return ExportOut(
        export_id=row.export_id,
        dataset=row.dataset,
        format=row.format,
        gzip=row.gzip,
        start=_iso(row.start_at),
        end=_iso(row.end_at),
        status=row.status,
        rows=row.rows,
        size_bytes=row.size_bytes,
        estimated_size=row.estimated_size,
        error=row.error,
        created_at=row.created_at.isoformat(),
        started_at=_iso(row.started_at),
        completed_at=_iso(row.completed_at),
        expires_at=row.expires_at.isoformat(),
        status_url=base,
        download_url=f"{base}/download",
    )


def media_type(row: ExportRow) -> str:
    return "application/gzip" if row.gzip else MEDIA_TYPES[row.format]


def download_name(row: ExportRow) -> str:
    return f"{row.dataset}-{row.export_id}.{row.format}" + (".gz" if row.gzip else "")
