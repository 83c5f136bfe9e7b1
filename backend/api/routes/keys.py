"""API keys: list, create (shown once), change mode/tier/scopes, revoke, reveal, usage, limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from backend.api.deps import AdminKey, BackendDep, CurrentKey, access_service, no_store
from backend.api.errors import ApiError
from backend.api.params import ID_PATTERN, ObjectId, Offset
from backend.auth.partners import PartnerNotFound, Partners
from backend.auth.service import KeyConflict, KeyInfo, KeyRequestError
from backend.auth.tiers import tier_for
from backend.core.audit import record_audit
from hashinsight_contract.partners import (
    ERRORS,
    KeyCreate,
    KeyCreated,
    KeyDetail,
    KeyList,
    KeyReveal,
    KeyUpdate,
    LimitsOut,
    LimitWindow,
    UsageList,
)

router = APIRouter(prefix="/api/v1", tags=["keys"], responses=ERRORS)


def _visible(caller: KeyInfo, key: KeyInfo) -> bool:
    return (
        caller.has("admin")
        or caller.key_id == key.key_id
        or (caller.owner_type == "partner" and caller.same_owner(key))
    )


async def _key(backend: Any, caller: KeyInfo, key_id: str) -> KeyInfo:
    info = await backend.auth.get(key_id)
    if info is None or not _visible(caller, info):
        raise ApiError(404, f"no key {key_id}")
    return info


@router.get("/keys", response_model=KeyList, summary="API keys (admins: all; others: their own)")
async def list_keys(
    caller: CurrentKey,
    backend: BackendDep,
    include_revoked: bool = False,
    owner_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> KeyList:
    keys = await backend.auth.list_keys(include_revoked=include_revoked)
    keys = [k for k in keys if _visible(caller, k)]
    if owner_id is not None:
        keys = [k for k in keys if k.owner_id == owner_id]
    page = keys[offset : offset + limit]
    return KeyList(
        items=[k.detail() for k in page],
        total=len(keys),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/keys",
    response_model=KeyCreated,
    status_code=201,
    summary="Create a key (the full key is in this answer only)",
)
async def create_key(
    body: KeyCreate, caller: AdminKey, backend: BackendDep, response: Response
) -> KeyCreated:
    no_store(response)
    days = body.expires_in_days
    expires = timedelta(days=days) if days is not None else None
    try:
        if body.owner_type == "partner":
            if not body.partner_id:
                raise ApiError(422, "partner keys need a partner_id")
            partners = Partners(backend.db, backend.auth)
            partner = await partners.get(body.partner_id)
            if partner.status != "active":
                raise ApiError(409, f"partner {body.partner_id} is {partner.status}")
            if "admin" in body.scopes:
                raise ApiError(422, "partner keys cannot hold the 'admin' scope")
            info, full = await backend.auth.create_key(
                name=body.name,
                owner_type="partner",
                owner_id=body.partner_id,
                scopes=list(body.scopes),
                tier=body.tier or partner.tier,
                mode=body.mode,
                expires_in=expires,
                actor=caller.actor,
            )
        else:
            info, full = await backend.auth.create_key(
                name=body.name,
                owner_type="operator",
                scopes=list(body.scopes),
                tier=body.tier or "operator",
                mode=body.mode,
                expires_in=expires,
                actor=caller.actor,
            )
    except KeyRequestError as exc:
        raise ApiError(422, str(exc)) from None
    except PartnerNotFound as exc:
        raise ApiError(404, str(exc)) from None
    return KeyCreated(key=info.detail(), api_key=full)


@router.get("/keys/{key_id}", response_model=KeyDetail, summary="One key")
async def get_key(key_id: ObjectId, caller: CurrentKey, backend: BackendDep) -> KeyDetail:
    return (await _key(backend, caller, key_id)).detail()


@router.patch(
    "/keys/{key_id}",
    response_model=KeyDetail,
    summary="Change a key's mode (auto/semi_auto), tier, name or scopes; effective at once",
)
async def update_key(
    key_id: ObjectId, body: KeyUpdate, caller: AdminKey, backend: BackendDep
) -> KeyDetail:
    current = await _key(backend, caller, key_id)
    if body.scopes and current.owner_type == "partner" and "admin" in body.scopes:
        raise ApiError(422, "partner keys cannot hold the 'admin' scope")
    try:
        info = await backend.auth.update(
            key_id,
            actor=caller.actor,
            mode=body.mode,
            tier=body.tier,
            name=body.name,
            scopes=list(body.scopes) if body.scopes else None,
        )
    except KeyConflict as exc:
        raise ApiError(409, str(exc)) from None
    except KeyRequestError as exc:  # the change asked for is invalid
        raise ApiError(422, str(exc)) from None
    if info is None:
        raise ApiError(404, f"no key {key_id}")
    return info.detail()


@router.delete(
    "/keys/{key_id}",
    response_model=KeyDetail,
    summary="Revoke a key (admins: any; others: their own); it stops working at once",
)
async def revoke_key(key_id: ObjectId, caller: CurrentKey, backend: BackendDep) -> KeyDetail:
    info = await _key(backend, caller, key_id)
    if not caller.has("admin") and caller.key_id != key_id:
        raise ApiError(403, "only admins may revoke other keys")
    if info.revoked_at is None:
        await backend.auth.revoke(key_id, actor=caller.actor)
    revoked = await backend.auth.get(key_id)
    assert revoked is not None
    return revoked.detail()


@router.post(
    "/keys/{key_id}/reveal",
    response_model=KeyReveal,
    summary="The full key, decrypted for its owner (admins, or the key itself)",
)
async def reveal_key(
    key_id: ObjectId, caller: CurrentKey, backend: BackendDep, response: Response
) -> KeyReveal:
    no_store(response)
    await _key(backend, caller, key_id)
    if not caller.has("admin") and caller.key_id != key_id:
        raise ApiError(403, "only admins may reveal other keys")
    full = await backend.auth.reveal(key_id)
    if full is None:
        raise ApiError(409, f"key {key_id} is revoked")
    async with backend.db.session() as session:
        record_audit(session, actor=caller.actor, action="key.reveal", target=key_id)
    return KeyReveal(key_id=key_id, api_key=full)


@router.get(
    "/keys/{key_id}/usage", response_model=UsageList, summary="Requests per hour of one key"
)
async def key_usage(
    key_id: ObjectId,
    caller: CurrentKey,
    backend: BackendDep,
    limit: Annotated[int, Query(ge=1, le=2000)] = 168,
) -> UsageList:
    await _key(backend, caller, key_id)
    access = access_service(backend)
    if access is None:
        raise ApiError(503, "usage counting is not running in this backend")
    items = await access.usage.usage(key_ids=[key_id], limit=limit)
    return UsageList(items=items, total=len(items))


@router.get(
    "/limits",
    response_model=LimitsOut,
    summary="The calling key's tier limits and what is left in each window",
)
async def my_limits(caller: CurrentKey, backend: BackendDep) -> LimitsOut:
    tier = tier_for(caller.tier, backend.settings)
    windows: list[LimitWindow] = []
    access = access_service(backend)
    if access is not None and backend.settings.ratelimit_enabled:
        decision = await access.limiter.hit(caller.key_id, access.windows(caller), cost=0)
        windows = [
            LimitWindow(
                name=s.window.name,
                limit=s.window.limit,
                remaining=s.remaining,
                reset=int(s.reset_at + 0.999),
            )
            for s in decision.states
        ]
    return LimitsOut(key_id=caller.key_id, limits=tier.limits(), windows=windows)
