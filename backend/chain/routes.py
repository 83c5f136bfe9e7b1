"""Network stats, latest blocks and hashrate history: thin routes over the chain service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from backend.api.deps import ReadKey, service
from backend.api.unavailable import UNAVAILABLE, unavailable_as_503
from backend.chain.service import ChainService, ChainUnavailable
from hashinsight_contract.network import BlocksOut, HashrateHistory, NetworkStats

router = APIRouter(tags=["network"])
Chain = Annotated[ChainService, Depends(service(ChainService))]


@router.get(
    "/api/v1/network/stats",
    response_model=NetworkStats,
    responses=UNAVAILABLE,
    summary="Hashrate, difficulty, tip, next adjustment and hashprice (with its inputs)",
)
async def network_stats(_key: ReadKey, chain: Chain) -> NetworkStats:
    with unavailable_as_503(ChainUnavailable):
        return chain.network_stats()


@router.get(
    "/api/v1/network/blocks",
    response_model=BlocksOut,
    responses=UNAVAILABLE,
    summary="The latest blocks (mempool.space), newest first",
)
async def latest_blocks(_key: ReadKey, chain: Chain) -> BlocksOut:
    with unavailable_as_503(ChainUnavailable):
        return chain.blocks()


@router.get(
    "/api/v1/network/hashrate",
    response_model=HashrateHistory,
    responses=UNAVAILABLE,
    summary="Network hashrate history (mempool.space, daily points)",
)
async def hashrate_history(
    _key: ReadKey,
    chain: Chain,
    period: Literal["3d", "1w", "1m", "3m", "6m", "1y"] = Query("1m"),
) -> HashrateHistory:
    with unavailable_as_503(ChainUnavailable):
        return await chain.hashrate_history(period)
