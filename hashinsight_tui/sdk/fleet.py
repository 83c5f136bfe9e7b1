"""The miners: pages of them, one with its history, and the fleet's summary."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.fleet import FleetSummary, MinerHistory, MinerList, MinerOut
from hashinsight_tui.sdk.transport import ApiTransport, path_segment


class FleetCalls(ApiTransport):
    async def miners(
        self,
        *,
        site: str | None = None,
        status: str | None = None,
        model: str | None = None,
        q: str | None = None,
        sort: str = "id",
        order: str = "asc",
        limit: int = 100,
        offset: int = 0,
        fields: str | None = None,
    ) -> MinerList:
        """One page of miners; fields="summary" leaves out boards and pools."""
        params: dict[str, Any] = {"sort": sort, "order": order, "limit": limit, "offset": offset}
        for name, value in (
            ("site", site),
            ("status", status),
            ("model", model),
            ("q", q),
            ("fields", fields),
        ):
            if value is not None:
                params[name] = value
        return await self._get(MinerList, "GET", "/api/v1/miners", params=params)

    async def fleet_summary(self) -> FleetSummary:
        return await self._get(FleetSummary, "GET", "/api/v1/fleet/summary")

    async def miner(self, miner_id: str) -> MinerOut:
        return await self._get(MinerOut, "GET", f"/api/v1/miners/{path_segment(miner_id)}")

    async def miner_history(self, miner_id: str, period: str = "1h") -> MinerHistory:
        path = f"/api/v1/miners/{path_segment(miner_id)}/history"
        return await self._get(MinerHistory, "GET", path, params={"period": period})
