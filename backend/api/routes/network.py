"""Network stats, latest blocks and hashrate history: thin routes over the chain service."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from backend.api.deps import BackendDep, ReadKey, running_service
from backend.api.errors import ApiError
from backend.api.routes.market import UNAVAILABLE
from backend.chain.service import ChainService, ChainUnavailable
from hashinsight_contract.network import BlocksOut, HashrateHistory, NetworkStats

router = APIRouter(tags=["network"])


def chain_service(backend: Any) -> ChainService:
    return running_service(backend, "chain", ChainService)


@router.get(
    "/api/v1/network/stats",
    response_model=NetworkStats,
    responses=UNAVAILABLE,
    summary="Hashrate, difficulty, tip, next adjustment and hashprice (with its inputs)",
)
async def network_stats(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    try:
        return chain_service(backend).stats()
    except ChainUnavailable as exc:
        raise ApiError(503, str(exc)) from None


@router.get(
    "/api/v1/network/blocks",
    response_model=BlocksOut,
    responses=UNAVAILABLE,
    summary="The latest blocks (mempool.space), newest first",
)
async def latest_blocks(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    try:
        return chain_service(backend).blocks()
    except ChainUnavailable as exc:
        raise ApiError(503, str(exc)) from None


@router.get(
    "/api/v1/network/hashrate",
    response_model=HashrateHistory,
    responses=UNAVAILABLE,
    summary="Network hashrate history (mempool.space, daily points)",
)
async def hashrate_history(
    _key: ReadKey,
    backend: BackendDep,
    period: Literal["3d", "1w", "1m", "3m", "6m", "1y"] = Query("1m"),
) -> dict[str, Any]:
    try:
        return await chain_service(backend).hashrate_history(period)
    except ChainUnavailable as exc:
        raise ApiError(503, str(exc)) from None
