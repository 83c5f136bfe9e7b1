"""Liveness for load balancers and the honest, per-integration health view."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import AdminKey, BackendDep, ReadKey
from hashinsight_contract.common import HealthReport, Liveness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness, summary="Liveness probe (no key needed)")
async def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get("/api/v1/health", response_model=HealthReport, summary="Health of every integration")
async def health(_key: ReadKey, backend: BackendDep) -> HealthReport:
    return backend.health_report()


@router.post(
    "/api/v1/health/check", response_model=HealthReport, summary="Run every health check now"
)
async def check_now(_key: AdminKey, backend: BackendDep) -> HealthReport:
    await backend.run_health_checks()
    return backend.health_report()
