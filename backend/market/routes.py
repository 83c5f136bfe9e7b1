"""Prices and exchanges: thin routes over the market service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from backend.api.deps import ReadKey, service
from backend.api.unavailable import UNAVAILABLE, unavailable_as_503
from backend.market.service import MarketService, MarketUnavailable
from hashinsight_contract.market import ExchangesOut, PriceCurrent, PriceHistory

router = APIRouter(tags=["market"])
Market = Annotated[MarketService, Depends(service(MarketService))]


@router.get(
    "/api/v1/prices/current",
    response_model=PriceCurrent,
    responses=UNAVAILABLE,
    summary="BTC price now, with its source, age and the fallback round that produced it",
)
async def current_price(_key: ReadKey, market: Market) -> PriceCurrent:
    with unavailable_as_503(MarketUnavailable):
        return market.current()


@router.get(
    "/api/v1/prices/history",
    response_model=PriceHistory,
    responses=UNAVAILABLE,
    summary="BTC price history (CoinGecko; 5-minute points for 1d, hourly for 7d and 30d)",
)
async def price_history(
    _key: ReadKey,
    market: Market,
    period: Literal["1d", "7d", "30d"] = Query("1d", description="1d, 7d or 30d"),
) -> PriceHistory:
    with unavailable_as_503(MarketUnavailable):
        return await market.history(period)


@router.get(
    "/api/v1/exchanges",
    response_model=ExchangesOut,
    responses=UNAVAILABLE,
    summary="BTC on each exchange, and the aggregate (volume, VWAP, spread, completeness)",
)
async def exchanges(_key: ReadKey, market: Market) -> ExchangesOut:
    with unavailable_as_503(MarketUnavailable):
        return market.exchanges()
