"""Who am I: the caller's own key, so consoles know what they may do."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import CurrentKey
from hashinsight_contract.common import KeyOut

router = APIRouter(prefix="/api/v1", tags=["keys"])


@router.get("/me", response_model=KeyOut, summary="The key making this request")
async def me(key: CurrentKey) -> KeyOut:
    return key.out()
