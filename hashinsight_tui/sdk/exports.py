"""Data exports (create, wait, stream to a file, delete) and the analytics series (managed
calls)."""

from __future__ import annotations

import asyncio
from typing import Any

from hashinsight_contract.partners import (
    DatasetList,
    ExportList,
    ExportOut,
    HistoricalOut,
    MetricList,
)
from hashinsight_tui.sdk.transport import ApiError, ApiTransport, ConnectionLost, error_fields


class ExportCalls(ApiTransport):
    async def export_datasets(self) -> DatasetList:
        return await self._managed(DatasetList, "GET", "/api/v1/exports/datasets")

    async def create_export(
        self,
        dataset: str,
        *,
        fmt: str = "json",
        gzip: bool = False,
        start: str | None = None,
        end: str | None = None,
    ) -> ExportOut:
        body: dict[str, Any] = {"dataset": dataset, "format": fmt, "gzip": gzip}
        if start:
            body["start"] = start
        if end:
            body["end"] = end
        return await self._managed(ExportOut, "POST", "/api/v1/exports", json=body)

    async def export(self, export_id: str) -> ExportOut:
        return await self._managed(ExportOut, "GET", f"/api/v1/exports/{export_id}")

    async def exports(self, *, limit: int = 50, offset: int = 0) -> ExportList:
        params = {"limit": limit, "offset": offset}
        return await self._managed(ExportList, "GET", "/api/v1/exports", params=params)

    async def wait_export(self, export_id: str, *, timeout_s: float = 600.0) -> ExportOut:
        """Poll an export until it is completed, failed or expired."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.2
        while True:
            job = await self.export(export_id)
            if job.status not in ("queued", "running"):
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise ConnectionLost(f"export {export_id} still {job.status} after {timeout_s:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    async def download_export(self, export_id: str, destination: str) -> int:
        """Stream a completed export to a file (never all in memory); returns bytes written."""
        written = 0
        async with self.http.stream("GET", f"/api/v1/exports/{export_id}/download") as response:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError(response.status_code, *error_fields(response))
            with open(destination, "wb") as handle:  # noqa: ASYNC230 - small sequential writes
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
        return written

    async def delete_export(self, export_id: str) -> None:
        await self._call("DELETE", f"/api/v1/exports/{export_id}")

    async def metrics(self) -> MetricList:
        return await self._managed(MetricList, "GET", "/api/v1/analytics/metrics")

    async def historical(
        self, metric: str, period: str = "1d", *, start: str | None = None, end: str | None = None
    ) -> HistoricalOut:
        params: dict[str, Any] = {"metric": metric, "period": period}
        if start:
            params["start"] = start
        if end:
            params["end"] = end
        path = "/api/v1/analytics/historical"
        return await self._managed(HistoricalOut, "GET", path, params=params)
