"""The fleet's alerts: listed, acknowledged, silenced, and where they are routed."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.fleet import AlertRouting, AlertView, AlertViewList
from hashinsight_tui.sdk.transport import ApiTransport


class AlertCalls(ApiTransport):
    async def alerts(
        self,
        *,
        state: str | None = None,
        miner_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> AlertViewList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state is not None:
            params["state"] = state
        if miner_id is not None:
            params["miner_id"] = miner_id
        return await self._get(AlertViewList, "GET", "/api/v1/alerts", params=params)

    async def acknowledge_alert(self, alert_id: int, reason: str | None = None) -> AlertView:
        """Acknowledge a raised alert; the optional reason (what is being done) is shown to
        every console and audited."""
        body = {"reason": reason} if reason else None
        path = f"/api/v1/alerts/{int(alert_id)}/acknowledge"
        return await self._get(AlertView, "POST", path, json=body)

    async def silence_alert(self, alert_id: int, minutes: float, reason: str) -> AlertView:
        """Silence an open alert for `minutes` (0 lifts the silence); the reason is audited."""
        body = {"minutes": minutes, "reason": reason}
        path = f"/api/v1/alerts/{int(alert_id)}/silence"
        return await self._get(AlertView, "POST", path, json=body)

    async def alert_routing(self) -> AlertRouting:
        """Where alerts go besides the consoles: email recipients and partner webhooks."""
        return await self._get(AlertRouting, "GET", "/api/v1/alerts/routing")

    async def open_alerts(self, *, limit: int = 1000) -> list[AlertView]:
        """Every alert not cleared yet (raised and acknowledged), newest first."""
        items: list[AlertView] = []
        for state in ("raised", "acknowledged"):
            items += (await self.alerts(state=state, limit=limit)).items
        return sorted(items, key=lambda alert: alert.raised_at, reverse=True)
