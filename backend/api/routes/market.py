"""Prices and exchanges: thin routes over the market service."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from backend.api.deps import BackendDep, ReadKey, running_service
from backend.api.errors import ApiError
from backend.market.service import MarketService, MarketUnavailable
from hashinsight_contract.common import ErrorResponse
from hashinsight_contract.market import ExchangesOut, PriceCurrent, PriceHistory

router = APIRouter(tags=["market"])
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "No value available yet (or market disabled)"}
}


def market_service(backend: Any) -> MarketService:
    return running_service(backend, "market", MarketService)


@router.get(
    "/api/v1/prices/current",
    response_model=PriceCurrent,
    responses=UNAVAILABLE,
    summary="BTC price now, with its source, age and the fallback round that produced it",
)
async def current_price(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    try:
        return market_service(backend).current()
    except MarketUnavailable as exc:
        raise ApiError(503, str(exc)) from None


@router.get(
    "/api/v1/prices/history",
    response_model=PriceHistory,
    responses=UNAVAILABLE,
    summary="BTC price history (CoinGecko; 5-minute points for 1d, hourly for 7d and 30d)",
)
async def price_history(
    _key: ReadKey,
    backend: BackendDep,
    period: Literal["1d", "7d", "30d"] = Query("1d", description="1d, 7d or 30d"),
) -> dict[str, Any]:
    try:
        return await market_service(backend).history(period)
    except MarketUnavailable as exc:
        raise ApiError(503, str(exc)) from None


@router.get(
    "/api/v1/exchanges",
    response_model=ExchangesOut,
    responses=UNAVAILABLE,
    summary="BTC on each exchange, and the aggregate (volume, VWAP, spread, completeness)",
)
async def exchanges(_key: ReadKey, backend: BackendDep) -> dict[str, Any]:
    try:
        return market_service(backend).exchanges()
    except MarketUnavailable as exc:
        raise ApiError(503, str(exc)) from None
