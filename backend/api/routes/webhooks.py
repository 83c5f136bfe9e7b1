"""Webhooks: partners register endpoints per event type; deliveries are signed and logged.

A partner's key manages its own endpoints; an admin key manages any partner's (give
`partner_id`). Deliveries follow the Standard Webhooks spec and are signed with the partner's
`api_secret`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from backend.api.deps import BackendDep, CurrentKey, service
from backend.api.errors import ApiError
from backend.api.params import ID_PATTERN, ObjectId, Offset
from backend.auth.service import KeyInfo
from backend.notify.events import EVENT_TYPES
from backend.notify.service import WebhookService
from backend.notify.targets import TargetRefused, check_target
from backend.notify.webhooks import (
    WebhookConflict,
    WebhookError,
    WebhookNotFound,
    check_webhook_host,
)
from hashinsight_contract.partners import (
    ERRORS,
    DeliveryList,
    DeliveryOut,
    EventTypeList,
    EventTypeOut,
    WebhookCreate,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=ERRORS)
Webhooks = Annotated[WebhookService, Depends(service(WebhookService))]

SIGNATURE_NOTE = (
    "Standard Webhooks: headers webhook-id, webhook-timestamp (unix seconds) and "
    "webhook-signature 'v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<raw body>\">' keyed with the "
    "base64-decoded part of your api_secret (whsec_…). Reject timestamps older than 5 minutes."
)


def _partner_of(caller: KeyInfo, requested: str | None) -> str:
    if caller.has("admin"):
        if requested:
            return requested
        if caller.owner_type == "partner" and caller.owner_id:
            return caller.owner_id
        raise ApiError(422, "give the partner_id the webhook belongs to")
    if caller.owner_type != "partner" or not caller.owner_id:
        raise ApiError(403, "only partner keys (or admins) manage webhooks")
    if requested and requested != caller.owner_id:
        raise ApiError(403, "a partner key manages only its own webhooks")
    return caller.owner_id


async def _owned(webhooks: WebhookService, caller: KeyInfo, webhook_id: str) -> WebhookOut:
    try:
        view = await webhooks.store.get(webhook_id)
    except WebhookNotFound as exc:
        raise ApiError(404, str(exc)) from None
    if not caller.has("admin") and view.partner_id != caller.owner_id:
        raise ApiError(404, f"no webhook {webhook_id}")
    return view


async def _check_url(backend: Any, url: str) -> None:
    settings = backend.settings
    try:
        check_webhook_host(url)
        await check_target(
            url,
            allow_private=settings.webhooks_allow_private,
            allow_http=settings.webhooks_allow_http,
        )
    except (TargetRefused, WebhookError) as exc:
        raise ApiError(422, f"url: {exc}") from None
    except (UnicodeError, ValueError):  # what the resolver refuses outright (defence in depth)
        raise ApiError(422, "url: the host cannot be resolved") from None


@router.get(
    "/event-types",
    response_model=EventTypeList,
    summary="The event types a webhook can subscribe to, and how deliveries are signed",
)
async def event_types(_caller: CurrentKey) -> EventTypeList:
    return EventTypeList(
        items=[EventTypeOut(type=name, description=text) for name, text in EVENT_TYPES.items()],
        signature=SIGNATURE_NOTE,
    )


@router.post("", response_model=WebhookOut, status_code=201, summary="Register a webhook")
async def create_webhook(
    body: WebhookCreate, caller: CurrentKey, backend: BackendDep, webhooks: Webhooks
) -> WebhookOut:
    partner_id = _partner_of(caller, body.partner_id)
    await _check_url(backend, body.url)
    try:
        view = await webhooks.store.create(
            partner_id=partner_id,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            actor=caller.actor,
            max_per_partner=backend.settings.webhooks_max_per_partner,
        )
    except WebhookNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except WebhookError as exc:
        raise ApiError(422, str(exc)) from None
    return view


@router.get("", response_model=WebhookList, summary="Webhooks (a partner's own; admins: all)")
async def list_webhooks(
    caller: CurrentKey,
    webhooks: Webhooks,
    partner_id: Annotated[str | None, Query(max_length=32, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> WebhookList:
    owner = partner_id if caller.has("admin") else _partner_of(caller, partner_id)
    items, total = await webhooks.store.list(partner_id=owner, limit=limit, offset=offset)
    return WebhookList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook")
async def get_webhook(webhook_id: ObjectId, caller: CurrentKey, webhooks: Webhooks) -> WebhookOut:
    return await _owned(webhooks, caller, webhook_id)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a webhook's URL or event types, or enable/disable it",
)
async def update_webhook(
    webhook_id: ObjectId,
    body: WebhookUpdate,
    caller: CurrentKey,
    backend: BackendDep,
    webhooks: Webhooks,
) -> WebhookOut:
    await _owned(webhooks, caller, webhook_id)
    if body.url is not None:
        await _check_url(backend, body.url)
    try:
        view = await webhooks.store.update(
            webhook_id,
            actor=caller.actor,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
        )
    except WebhookConflict as exc:
        raise ApiError(409, str(exc)) from None
    except WebhookError as exc:
        raise ApiError(422, str(exc)) from None
    return view


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook")
async def delete_webhook(webhook_id: ObjectId, caller: CurrentKey, webhooks: Webhooks) -> None:
    await _owned(webhooks, caller, webhook_id)
    await webhooks.store.delete(webhook_id, actor=caller.actor)


@router.post(
    "/{webhook_id}/test",
    response_model=DeliveryOut,
    status_code=202,
    summary="Queue a signed webhook.test event to this endpoint",
)
async def test_webhook(webhook_id: ObjectId, caller: CurrentKey, webhooks: Webhooks) -> DeliveryOut:
    view = await _owned(webhooks, caller, webhook_id)
    if view.status != "active":
        raise ApiError(409, f"webhook {webhook_id} is disabled: {view.disabled_reason}")
    delivery_id = await webhooks.send_test(webhook_id, view.partner_id)
    delivery = await webhooks.store.delivery(delivery_id)
    assert delivery is not None
    return delivery


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="The delivery log of one webhook, newest first, with every attempt",
)
async def deliveries(
    webhook_id: ObjectId,
    caller: CurrentKey,
    webhooks: Webhooks,
    status: Annotated[
        str | None, Query(pattern="^(pending|retrying|delivered|failed|cancelled)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> DeliveryList:
    await _owned(webhooks, caller, webhook_id)
    items, total = await webhooks.store.deliveries(
        webhook_id=webhook_id, status=status, limit=limit, offset=offset
    )
    return DeliveryList(items=items, total=total, limit=limit, offset=offset)
