"""API keys (created, changed, revoked, revealed, their usage and limits) and the partners who
hold them. These are managed calls: rate-limit waits and one retry of a lost read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hashinsight_contract.partners import (
    KeyCreated,
    KeyDetail,
    KeyList,
    KeyReveal,
    LimitsOut,
    PartnerList,
    PartnerOut,
    PartnerRegistered,
    PartnerSecret,
    UsageList,
)
from hashinsight_tui.sdk.transport import ApiTransport


class KeyCalls(ApiTransport):
    async def list_keys(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> KeyList:
        params = {"include_revoked": str(include_revoked).lower(), "limit": limit, "offset": offset}
        return await self._managed(KeyList, "GET", "/api/v1/keys", params=params)

    async def create_key(
        self,
        name: str,
        scopes: Iterable[str] = ("read",),
        *,
        owner_type: str = "operator",
        partner_id: str | None = None,
        tier: str | None = None,
        mode: str = "auto",
        expires_in_days: float | None = None,
    ) -> KeyCreated:
        body: dict[str, Any] = {
            "name": name,
            "scopes": list(scopes),
            "owner_type": owner_type,
            "mode": mode,
        }
        for name_, value in (
            ("partner_id", partner_id),
            ("tier", tier),
            ("expires_in_days", expires_in_days),
        ):
            if value is not None:
                body[name_] = value
        return await self._managed(KeyCreated, "POST", "/api/v1/keys", json=body)

    async def get_key(self, key_id: str) -> KeyDetail:
        return await self._managed(KeyDetail, "GET", f"/api/v1/keys/{key_id}")

    async def update_key(self, key_id: str, **changes: Any) -> KeyDetail:
        body = {k: v for k, v in changes.items() if v is not None}
        return await self._managed(KeyDetail, "PATCH", f"/api/v1/keys/{key_id}", json=body)

    async def set_key_mode(self, key_id: str, mode: str) -> KeyDetail:
        return await self.update_key(key_id, mode=mode)

    async def revoke_key(self, key_id: str) -> KeyDetail:
        return await self._managed(KeyDetail, "DELETE", f"/api/v1/keys/{key_id}")

    async def reveal_key(self, key_id: str) -> KeyReveal:
        return await self._managed(KeyReveal, "POST", f"/api/v1/keys/{key_id}/reveal")

    async def key_usage(self, key_id: str, limit: int = 168) -> UsageList:
        path = f"/api/v1/keys/{key_id}/usage"
        return await self._managed(UsageList, "GET", path, params={"limit": limit})

    async def limits(self) -> LimitsOut:
        return await self._managed(LimitsOut, "GET", "/api/v1/limits")

    async def partners(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> PartnerList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return await self._managed(PartnerList, "GET", "/api/v1/partners", params=params)

    async def register_partner(
        self, name: str, *, tier: str = "basic", **fields: Any
    ) -> PartnerRegistered:
        body = {"name": name, "tier": tier, **{k: v for k, v in fields.items() if v is not None}}
        return await self._managed(
            PartnerRegistered, "POST", "/api/v1/partners/register", json=body
        )

    async def partner(self, partner_id: str) -> PartnerOut:
        return await self._managed(PartnerOut, "GET", f"/api/v1/partners/{partner_id}")

    async def update_partner(self, partner_id: str, **fields: Any) -> PartnerOut:
        body = {k: v for k, v in fields.items() if v is not None}
        return await self._managed(PartnerOut, "PATCH", f"/api/v1/partners/{partner_id}", json=body)

    async def suspend_partner(self, partner_id: str) -> PartnerOut:
        return await self._managed(PartnerOut, "POST", f"/api/v1/partners/{partner_id}/suspend")

    async def resume_partner(self, partner_id: str) -> PartnerOut:
        return await self._managed(PartnerOut, "POST", f"/api/v1/partners/{partner_id}/resume")

    async def delete_partner(self, partner_id: str) -> PartnerOut:
        return await self._managed(PartnerOut, "DELETE", f"/api/v1/partners/{partner_id}")

    async def rotate_partner_secret(self, partner_id: str) -> PartnerSecret:
        path = f"/api/v1/partners/{partner_id}/secret"
        return await self._managed(PartnerSecret, "POST", path)

    async def partner_keys(self, partner_id: str) -> KeyList:
        return await self._managed(KeyList, "GET", f"/api/v1/partners/{partner_id}/keys")

    async def new_partner_key(
        self, partner_id: str, *, name: str | None = None, scopes: Iterable[str] | None = None
    ) -> KeyCreated:
        body: dict[str, Any] = {}
        if name:
            body["name"] = name
        if scopes is not None:
            body["scopes"] = list(scopes)
        path = f"/api/v1/partners/{partner_id}/keys"
        return await self._managed(KeyCreated, "POST", path, json=body)
