"""Partners: register (key + signing secret shown once), list, read, update, suspend, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from backend.api.deps import AdminKey, BackendDep, CurrentKey, find_service, no_store
from backend.api.errors import ApiError
from backend.api.params import ObjectId, Offset
from backend.auth.partners import PartnerConflict, PartnerError, PartnerNotFound, Partners
from backend.auth.tiers import tier_for
from backend.notify.service import WebhookService
from hashinsight_contract.partners import (
    ERRORS,
    KeyCreated,
    KeyList,
    PartnerKeyCreate,
    PartnerList,
    PartnerOut,
    PartnerRegister,
    PartnerRegistered,
    PartnerSecret,
    PartnerUpdate,
)

router = APIRouter(prefix="/api/v1/partners", tags=["partners"], responses=ERRORS)


def _partners(backend: Any) -> Partners:
    return Partners(backend.db, backend.auth)


async def _call(coro: Any) -> Any:
    try:
        return await coro
    except PartnerNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except PartnerConflict as exc:
        raise ApiError(409, str(exc)) from None
    except PartnerError as exc:
        raise ApiError(422, str(exc)) from None


@router.post(
    "/register",
    response_model=PartnerRegistered,
    status_code=201,
    summary="Register a partner: its API key and webhook signing secret are shown once",
)
async def register(
    body: PartnerRegister, caller: AdminKey, backend: BackendDep, response: Response
) -> PartnerRegistered:
    no_store(response)
    view, info, full_key, secret = await _call(
        _partners(backend).register(
            name=body.name,
            description=body.description,
            website=body.website,
            contact=body.contact,
            integration_type=body.integration_type,
            tier=body.tier,
            scopes=list(body.scopes) if body.scopes is not None else None,
            mode=body.mode,
            actor=caller.actor,
        )
    )
    return PartnerRegistered(
        partner_id=view.partner_id,
        partner=view,
        key_id=info.key_id,
        api_key=full_key,
        api_secret=secret,
        rate_limits=tier_for(body.tier, backend.settings).limits(),
    )


@router.get("", response_model=PartnerList, summary="Partners")
async def list_partners(
    _caller: AdminKey,
    backend: BackendDep,
    status: Annotated[str | None, Query(pattern="^(active|suspended|deleted)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> PartnerList:
    items, total = await _partners(backend).list(status=status, limit=limit, offset=offset)
    return PartnerList(items=items, total=total, limit=limit, offset=offset)


def _own_or_admin(caller: Any, partner_id: str) -> None:
    if not caller.has("admin") and caller.owner_id != partner_id:
        raise ApiError(404, f"no partner {partner_id}")


@router.get(
    "/{partner_id}", response_model=PartnerOut, summary="One partner (admins, or the partner)"
)
async def get_partner(partner_id: ObjectId, caller: CurrentKey, backend: BackendDep) -> PartnerOut:
    _own_or_admin(caller, partner_id)
    partner: PartnerOut = await _call(_partners(backend).get(partner_id))
    return partner


@router.patch(
    "/{partner_id}",
    response_model=PartnerOut,
    summary="Update a partner; a new tier applies to all its keys at once",
)
async def update_partner(
    partner_id: ObjectId, body: PartnerUpdate, caller: AdminKey, backend: BackendDep
) -> PartnerOut:
    updated = _partners(backend).update(partner_id, actor=caller.actor, **body.model_dump())
    partner: PartnerOut = await _call(updated)
    return partner


@router.post(
    "/{partner_id}/suspend",
    response_model=PartnerOut,
    summary=(
        "Suspend a partner: its keys are refused at once, its webhooks paused (deliveries "
        "already queued wait for the resume; events meanwhile are not queued)"
    ),
)
async def suspend_partner(
    partner_id: ObjectId, caller: AdminKey, backend: BackendDep
) -> PartnerOut:
    return await _set_status(backend, partner_id, "suspended", caller.actor)


@router.post(
    "/{partner_id}/resume",
    response_model=PartnerOut,
    summary="Resume a partner: its keys work again and its held webhook deliveries go out",
)
async def resume_partner(partner_id: ObjectId, caller: AdminKey, backend: BackendDep) -> PartnerOut:
    return await _set_status(backend, partner_id, "active", caller.actor)


async def _set_status(backend: Any, partner_id: str, status: str, actor: str) -> PartnerOut:
    partner: PartnerOut = await _call(
        _partners(backend).set_status(partner_id, status, actor=actor)
    )
    webhooks = find_service(backend, WebhookService)
    if webhooks is not None:
        await webhooks.partner_changed(partner_id, status)
    return partner


@router.delete(
    "/{partner_id}",
    response_model=PartnerOut,
    summary="Delete a partner: its keys are revoked and its webhooks disabled for good",
)
async def delete_partner(partner_id: ObjectId, caller: AdminKey, backend: BackendDep) -> PartnerOut:
    view: PartnerOut = await _call(
        _partners(backend).set_status(partner_id, "deleted", actor=caller.actor)
    )
    webhooks = find_service(backend, WebhookService)
    if webhooks is not None:
        await webhooks.store.disable_partner(partner_id, "partner deleted")
    return view


@router.post(
    "/{partner_id}/secret",
    response_model=PartnerSecret,
    summary="Rotate the partner's webhook signing secret (shown once)",
)
async def rotate_secret(
    partner_id: ObjectId, caller: AdminKey, backend: BackendDep, response: Response
) -> PartnerSecret:
    no_store(response)
    secret = await _call(_partners(backend).rotate_secret(partner_id, actor=caller.actor))
    return PartnerSecret(partner_id=partner_id, api_secret=secret)


@router.get("/{partner_id}/keys", response_model=KeyList, summary="The partner's keys")
async def partner_keys(
    partner_id: ObjectId,
    caller: CurrentKey,
    backend: BackendDep,
    include_revoked: bool = False,
) -> KeyList:
    _own_or_admin(caller, partner_id)
    await _call(_partners(backend).get(partner_id))
    keys = await backend.auth.list_owner_keys(partner_id, include_revoked=include_revoked)
    return KeyList(
        items=[k.detail() for k in keys],
        total=len(keys),
        limit=len(keys),
        offset=0,
    )


@router.post(
    "/{partner_id}/keys",
    response_model=KeyCreated,
    status_code=201,
    summary="Issue another key to the partner (shown once)",
)
async def partner_new_key(
    partner_id: ObjectId,
    body: PartnerKeyCreate,
    caller: AdminKey,
    backend: BackendDep,
    response: Response,
) -> KeyCreated:
    no_store(response)
    info, full = await _call(
        _partners(backend).create_key(
            partner_id,
            name=body.name,
            scopes=list(body.scopes) if body.scopes is not None else None,
            mode=body.mode,
            actor=caller.actor,
        )
    )
    return KeyCreated(key=info.detail(), api_key=full)
