"""The issuer: its status, the issues with their approvals, and the reconciliation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hashinsight_contract.issuer import (
    IssueDetailOut,
    IssueListOut,
    IssueOut,
    IssuerStatusOut,
    ReconciliationOut,
)
from hashinsight_tui.sdk.transport import ApiTransport


class IssuerCalls(ApiTransport):
    async def issuer_status(self) -> IssuerStatusOut:
        """Bitmart poll, cursor, signer, node and RFE sequence, totals, lease holder."""
        return await self._get(IssuerStatusOut, "GET", "/api/v1/issuer/status")

    async def issuer_issues(
        self, states: Iterable[str] = (), *, limit: int = 100, before_id: int | None = None
    ) -> IssueListOut:
        """Issues newest first; `states` filters (e.g. ["awaiting_approval"])."""
        params: dict[str, Any] = {"limit": limit}
        if states:
            params["state"] = ",".join(states)
        if before_id is not None:
            params["before_id"] = before_id
        return await self._get(IssueListOut, "GET", "/api/v1/issuer/issues", params=params)

    async def issuer_issue(self, issue_id: int) -> IssueDetailOut:
        """One issue with the Bitmart trades it covers and its signed tx."""
        return await self._get(IssueDetailOut, "GET", f"/api/v1/issuer/issues/{int(issue_id)}")

    async def approve_issue(self, issue_id: int, reason: str | None = None) -> IssueOut:
        """Needs the issuer:approve scope; audited with who, when and why."""
        path = f"/api/v1/issuer/issues/{int(issue_id)}/approve"
        return await self._get(IssueOut, "POST", path, json={"reason": reason or None})

    async def reject_issue(self, issue_id: int, reason: str) -> IssueOut:
        """Needs the issuer:approve scope and a reason (at least 3 characters)."""
        path = f"/api/v1/issuer/issues/{int(issue_id)}/reject"
        return await self._get(IssueOut, "POST", path, json={"reason": reason})

    async def retry_issue(self, issue_id: int, reason: str | None = None) -> IssueOut:
        path = f"/api/v1/issuer/issues/{int(issue_id)}/retry"
        return await self._get(IssueOut, "POST", path, json={"reason": reason or None})

    async def start_issuer(self, start: str = "now") -> IssuerStatusOut:
        """The very first starting point: "now" or an ISO-8601 time with a timezone."""
        body = {"start": start}
        return await self._get(IssuerStatusOut, "POST", "/api/v1/issuer/start", json=body)

    async def issuer_reconciliation(
        self, start: str | None = None, end: str | None = None, *, live: bool = False
    ) -> ReconciliationOut:
        """Bitmart sales vs issued for [start, end) (ISO-8601; default: the last 24 hours)."""
        params: dict[str, Any] = {"live": "true" if live else "false"}
        if start:
            params["start"] = start
        if end:
            params["end"] = end
        path = "/api/v1/issuer/reconciliation"
        return await self._get(ReconciliationOut, "GET", path, params=params)
