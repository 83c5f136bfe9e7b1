"""Webhooks: the event types, subscriptions, test sends and the delivery log (managed calls)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hashinsight_contract.partners import (
    DeliveryList,
    DeliveryOut,
    EventTypeList,
    WebhookList,
    WebhookOut,
)
from hashinsight_tui.sdk.transport import ApiTransport


class WebhookCalls(ApiTransport):
    async def webhook_event_types(self) -> EventTypeList:
        return await self._managed(EventTypeList, "GET", "/api/v1/webhooks/event-types")

    async def webhooks(
        self, *, partner_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> WebhookList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if partner_id:
            params["partner_id"] = partner_id
        return await self._managed(WebhookList, "GET", "/api/v1/webhooks", params=params)

    async def create_webhook(
        self,
        url: str,
        event_types: Iterable[str],
        *,
        description: str | None = None,
        partner_id: str | None = None,
    ) -> WebhookOut:
        body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
        if description:
            body["description"] = description
        if partner_id:
            body["partner_id"] = partner_id
        return await self._managed(WebhookOut, "POST", "/api/v1/webhooks", json=body)

    async def update_webhook(self, webhook_id: str, **changes: Any) -> WebhookOut:
        body = {k: v for k, v in changes.items() if v is not None}
        path = f"/api/v1/webhooks/{webhook_id}"
        return await self._managed(WebhookOut, "PATCH", path, json=body)

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._call("DELETE", f"/api/v1/webhooks/{webhook_id}")

    async def test_webhook(self, webhook_id: str) -> DeliveryOut:
        return await self._managed(DeliveryOut, "POST", f"/api/v1/webhooks/{webhook_id}/test")

    async def webhook_deliveries(
        self, webhook_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> DeliveryList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        path = f"/api/v1/webhooks/{webhook_id}/deliveries"
        return await self._managed(DeliveryList, "GET", path, params=params)
