"""The miners' control credentials (admin keys): listed masked, stored, removed."""

from __future__ import annotations

from hashinsight_contract.fleet import CredentialList, CredentialOut
from hashinsight_tui.sdk.transport import ApiTransport, path_segment


class CredentialCalls(ApiTransport):
    async def fleet_credentials(self) -> CredentialList:
        """Stored control credentials (passwords masked) and each kind's default (admin keys)."""
        return await self._get(CredentialList, "GET", "/api/v1/fleet/credentials")

    async def set_fleet_credentials(
        self,
        scope: str,
        target: str,
        kind: str,
        *,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> CredentialOut:
        """Store control credentials for a site or a miner (admin keys); answered masked."""
        body: dict[str, str | int | None] = {"scope": scope, "target": target, "kind": kind}
        body |= {"user": user, "password": password, "port": port}
        return await self._get(CredentialOut, "PUT", "/api/v1/fleet/credentials", json=body)

    async def remove_fleet_credentials(self, scope: str, target: str, kind: str) -> None:
        path = f"/api/v1/fleet/credentials/{path_segment(scope)}/{path_segment(kind)}"
        await self.request("DELETE", path, params={"target": target})
