"""The notary's reports (request, verify, retry, the hashed document) and the wallet logins."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.notary import (
    NotarizationList,
    NotarizationOut,
    NotaryInfo,
    VerificationOut,
)
from hashinsight_contract.wallet import WalletLoginList
from hashinsight_tui.sdk.transport import ApiTransport


class NotaryCalls(ApiTransport):
    async def notary_info(self) -> NotaryInfo:
        return await self._get(NotaryInfo, "GET", "/api/v1/notary")

    async def notarizations(
        self, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> NotarizationList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return await self._get(NotarizationList, "GET", "/api/v1/notarizations", params=params)

    async def notarization(self, notarization_id: int) -> NotarizationOut:
        path = f"/api/v1/notarizations/{int(notarization_id)}"
        return await self._get(NotarizationOut, "GET", path)

    async def notarization_document(self, notarization_id: int) -> dict[str, Any]:
        """The canonical JSON document that was hashed, signed, pinned and anchored."""
        path = f"/api/v1/notarizations/{int(notarization_id)}/document"
        return await self.request("GET", path)  # type: ignore[no-any-return]

    async def request_notarization(self, period_hours: float | None = None) -> NotarizationOut:
        body = {"period_hours": period_hours} if period_hours else {}
        return await self._get(NotarizationOut, "POST", "/api/v1/notarizations", json=body)

    async def verify_notarization(self, notarization_id: int) -> VerificationOut:
        path = f"/api/v1/notarizations/{int(notarization_id)}/verify"
        return await self._get(VerificationOut, "POST", path)

    async def retry_notarization(self, notarization_id: int) -> NotarizationOut:
        path = f"/api/v1/notarizations/{int(notarization_id)}/retry"
        return await self._get(NotarizationOut, "POST", path)

    async def wallet_logins(
        self,
        *,
        address: str | None = None,
        outcome: str | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> WalletLoginList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for name, value in (("address", address), ("outcome", outcome), ("q", query)):
            if value:
                params[name] = value
        return await self._get(WalletLoginList, "GET", "/api/v1/wallet/logins", params=params)
