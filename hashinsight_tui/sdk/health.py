"""Whether a backend answers, its health report, and who the key is."""

from __future__ import annotations

import httpx

from hashinsight_contract.common import HealthReport, KeyOut, Liveness
from hashinsight_tui.sdk.transport import ApiTransport, decode_answer


class HealthCalls(ApiTransport):
    async def alive(self) -> bool:
        """Whether a HashInsight backend answers at this URL (no key needed)."""
        try:
            response = await self.http.get("/healthz", timeout=min(self.timeout_s, 2.0))
            if response.status_code != 200:
                return False
            Liveness.model_validate(decode_answer(response.content))
        except (httpx.HTTPError, ValueError):  # pydantic's ValidationError is a ValueError
            return False
        return True

    async def health(self) -> HealthReport:
        return await self._get(HealthReport, "GET", "/api/v1/health")

    async def check_health_now(self) -> HealthReport:
        return await self._get(HealthReport, "POST", "/api/v1/health/check")

    async def me(self) -> KeyOut:
        return await self._get(KeyOut, "GET", "/api/v1/me")
