"""The `exports` service: bulk export jobs streamed to files in the data dir, then expired.

A job iterates its dataset in batches and writes each batch as it comes (JSON array or CSV, gzip
optional) through a thread, so neither the event loop nor memory ever holds the whole dataset.
Files are written as `<id>.part` and renamed when complete; expired files are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import func, select

from backend.auth.models import ApiKeyRow
from backend.auth.service import KeyInfo, key_info
from backend.core.service import ServiceContext
from backend.exports.datasets import Dataset, DatasetContext, get_dataset
from backend.exports.models import ExportRow
from backend.exports.views import MEDIA_TYPES, export_view
from backend.exports.writer import FileWriter, csv_cell
from hashinsight_contract.partners import ExportList, ExportOut

log = logging.getLogger("hashinsight.exports")

CHUNK_ROWS = 500
EXPIRY_CHECK_S = 60.0


class ExportError(Exception):
    """An export request is invalid or cannot run; the message says why."""


class ExportService:
    name: ClassVar[str] = "exports"
    channels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: ServiceContext, backend_ref: Any = None) -> None:
        self.context = context
        self.settings = context.settings
        self.dir = context.settings.data_dir / "exports"
        self._backend_ref = backend_ref
        self._semaphore = asyncio.Semaphore(self.settings.exports_max_concurrent)
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._expiry: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True, mode=0o700)
        async with self.context.db.session() as session:
            stale = await session.scalars(select(ExportRow).where(ExportRow.status == "running"))
            for row in stale:
                row.status, row.error = "failed", "interrupted by a backend restart"
            queued = [
                row.export_id
                for row in await session.scalars(
                    select(ExportRow).where(ExportRow.status == "queued")
                )
            ]
        for export_id in queued:
            self._spawn(export_id)
        self._expiry = asyncio.create_task(self._expire_loop(), name="exports-expiry")

    async def stop(self) -> None:
        tasks = [*self._jobs.values(), *([self._expiry] if self._expiry else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- requests ------------------------------------------------------------------------------

    async def create(
        self,
        key: KeyInfo,
        *,
        dataset: Dataset,
        fmt: str,
        compress: bool,
        start: datetime | None,
        end: datetime | None,
        backend: Any,
    ) -> ExportOut:
        if fmt not in MEDIA_TYPES:
            raise ExportError("format must be json or csv")
        if start is not None and end is not None and start >= end:
            raise ExportError("start must be before end")
        ctx = DatasetContext(self.context.db, backend, key, start, end)
        estimated = None
        if dataset.count is not None:
            count = await dataset.count(ctx)
            if count is not None:
                if count > self.settings.exports_max_rows:
                    raise ExportError(
                        f"{count} rows is more than exports_max_rows "
                        f"({self.settings.exports_max_rows}); narrow the time range"
                    )
                estimated = count * dataset.bytes_per_row // (5 if compress else 1)
        now = self.context.clock.now()
        row = ExportRow(
            export_id="exp_" + secrets.token_hex(8),
            key_id=key.key_id,
            owner_type=key.owner_type,
            owner_id=key.owner_id,
            dataset=dataset.name,
            format=fmt,
            gzip=compress,
            start_at=start,
            end_at=end,
            status="queued",
            rows=0,
            estimated_size=estimated,
            created_at=now,
            expires_at=now + timedelta(hours=self.settings.exports_ttl_h),
        )
        async with self.context.db.session() as session:
            session.add(row)
            await session.flush()
            view = export_view(row)
        self._backend_ref = backend
        self._spawn(row.export_id)
        return view

    def _spawn(self, export_id: str) -> None:
        task = asyncio.create_task(self._run(export_id), name=f"export-{export_id}")
        self._jobs[export_id] = task
        task.add_done_callback(lambda _t: self._jobs.pop(export_id, None))

    async def get(self, export_id: str) -> ExportRow | None:
        async with self.context.db.session() as session:
            return await session.scalar(select(ExportRow).where(ExportRow.export_id == export_id))

    async def list(self, key: KeyInfo, *, limit: int, offset: int) -> ExportList:
        async with self.context.db.session() as session:
            query = select(ExportRow)
            count = select(func.count()).select_from(ExportRow)
            if not key.has("admin"):
                owner = (ExportRow.owner_type == key.owner_type) & (
                    ExportRow.owner_id.is_(None)
                    if key.owner_id is None
                    else ExportRow.owner_id == key.owner_id
                )
                query, count = query.where(owner), count.where(owner)
            total = int(await session.scalar(count) or 0)
            rows = await session.scalars(
                query.order_by(ExportRow.id.desc()).limit(limit).offset(offset)
            )
            items = [export_view(row) for row in rows]
            return ExportList(items=items, total=total, limit=limit, offset=offset)

    def path_of(self, row: ExportRow) -> Path:
        return self.dir / (row.filename or "")

    async def delete(self, row: ExportRow) -> None:
        task = self._jobs.get(row.export_id)
        if task is not None:
            task.cancel()
        await self._remove_files(row.export_id)
        async with self.context.db.session() as session:
            stored = await session.get(ExportRow, row.id)
            if stored is not None:
                await session.delete(stored)

    # --- the job -------------------------------------------------------------------------------

    async def _run(self, export_id: str) -> None:
        async with self._semaphore:
            row = await self.get(export_id)
            if row is None or row.status != "queued":
                return
            dataset = get_dataset(row.dataset)
            filename = f"{export_id}.{row.format}" + (".gz" if row.gzip else "")
            part = self.dir / f"{filename}.part"
            await self._update(export_id, status="running", started_at=self.context.clock.now())
            try:
                if dataset is None:
                    raise ExportError(f"dataset {row.dataset!r} is no longer available")
                key = await self._key(row)
                ctx = DatasetContext(
                    self.context.db, self._backend_ref, key, row.start_at, row.end_at
                )
                count = await self._write(dataset, ctx, row.format, row.gzip, part)
                size = (await asyncio.to_thread(part.stat)).st_size
                await asyncio.to_thread(os.replace, part, self.dir / filename)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(part.unlink, missing_ok=True)
                raise
            except Exception as exc:
                await asyncio.to_thread(part.unlink, missing_ok=True)
                message = str(exc) if isinstance(exc, ExportError) else type(exc).__name__
                log.warning("export %s failed: %s", export_id, message)
                await self._update(
                    export_id,
                    status="failed",
                    error=message,
                    completed_at=self.context.clock.now(),
                )
                return
            await self._update(
                export_id,
                status="completed",
                rows=count,
                size_bytes=size,
                filename=filename,
                completed_at=self.context.clock.now(),
            )

    async def _key(self, row: ExportRow) -> KeyInfo:
        async with self.context.db.session() as session:
            stored = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == row.key_id))
        info = key_info(stored) if stored is not None else None
        if info is None:
            raise ExportError("the key that requested this export no longer exists")
        return info

    async def _write(
        self, dataset: Dataset, ctx: DatasetContext, fmt: str, compress: bool, part: Path
    ) -> int:
        writer = await asyncio.to_thread(FileWriter, part, compress)
        count = 0
        try:
            buffer = io.StringIO()
            csv_writer = csv.DictWriter(
                buffer, fieldnames=list(dataset.columns), extrasaction="ignore"
            )
            if fmt == "csv":
                csv_writer.writeheader()
            else:
                buffer.write("[")
            async for item in dataset.rows(ctx):
                if count >= self.settings.exports_max_rows:
                    raise ExportError(
                        f"the dataset passed exports_max_rows ({self.settings.exports_max_rows})"
                    )
                if fmt == "csv":
                    csv_writer.writerow({k: csv_cell(item.get(k)) for k in dataset.columns})
                else:
                    buffer.write("\n" if count == 0 else ",\n")
                    buffer.write(json.dumps(item, separators=(",", ":"), default=str))
                count += 1
                if count % CHUNK_ROWS == 0:
                    await asyncio.to_thread(writer.write, buffer.getvalue().encode())
                    buffer.seek(0)
                    buffer.truncate()
            if fmt == "json":
                buffer.write("\n]\n" if count else "]\n")
            await asyncio.to_thread(writer.write, buffer.getvalue().encode())
        finally:
            await asyncio.to_thread(writer.close)
        return count

    async def _update(self, export_id: str, **values: Any) -> None:
        async with self.context.db.session() as session:
            row = await session.scalar(select(ExportRow).where(ExportRow.export_id == export_id))
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)

    # --- expiry --------------------------------------------------------------------------------

    async def expire_now(self) -> int:
        now = self.context.clock.now()
        async with self.context.db.session() as session:
            rows = list(
                await session.scalars(
                    select(ExportRow).where(
                        ExportRow.expires_at <= now, ExportRow.status != "expired"
                    )
                )
            )
            for row in rows:
                row.status = "expired"
            ids = [row.export_id for row in rows]
        for export_id in ids:
            task = self._jobs.get(export_id)
            if task is not None:
                task.cancel()
            await self._remove_files(export_id)
        return len(ids)

    async def _remove_files(self, export_id: str) -> None:
        def remove() -> None:
            for path in self.dir.glob(f"{export_id}.*"):
                path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def _expire_loop(self) -> None:
        while True:
            try:
                await self.expire_now()
            except Exception as exc:
                log.warning("export expiry failed: %s", type(exc).__name__)
            await asyncio.sleep(EXPIRY_CHECK_S)
