"""Webhook endpoints per partner and their delivery log (the store; delivery is in delivery.py)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from backend.auth.models import PartnerRow
from backend.core.audit import record_audit
from backend.core.bus import Event
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.db import Database
from backend.notify.events import EVENT_TYPES
from backend.notify.models import WebhookDeliveryRow, WebhookRow
from hashinsight_contract.partners import DeliveryAttemptOut, DeliveryOut, WebhookOut

DELIVERY_STATUSES = ("pending", "retrying", "delivered", "failed", "cancelled")
OPEN_STATUSES = ("pending", "retrying")
HELD = "held: "  # how a delivery waiting for its suspended partner's resume begins its last_error
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")
MAX_HOST = 253  # RFC 1035: a name of at most 253 characters in text form
MAX_LABEL = 63  # and labels of at most 63


class WebhookError(Exception):
    """A webhook request is invalid; the message says why."""


class WebhookConflict(WebhookError):
    """A valid change its state refuses (re-enabling a deleted partner's endpoint)."""


class WebhookNotFound(WebhookError):
    pass


def _id(prefix: str, n: int = 16) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_message_id() -> str:
    return _id("msg_", 24)


def event_message_id(event: Event, event_type: str) -> str:
    """The webhook message id of one bus event: the same in every instance that sees it (the
    Redis bridge carries an event to all of them with its channel, type, time and data as
    JSON), so they agree on the one delivery per endpoint."""
    identity = json.dumps(
        [event.channel, event.type, repr(float(event.ts)), event.data, event_type],
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    return "msg_" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def _body(event_type: str, data: dict[str, Any], now: datetime) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def webhook_view(row: WebhookRow) -> WebhookOut:
    return WebhookOut(
        webhook_id=row.webhook_id,
        partner_id=row.partner_id,
        url=row.url,
        event_types=row.event_types.split(),
        description=row.description,
        status=row.status,
        disabled_reason=row.disabled_reason,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        last_success_at=_iso(row.last_success_at),
        last_failure_at=_iso(row.last_failure_at),
    )


def delivery_view(row: WebhookDeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        webhook_id=row.webhook_id,
        partner_id=row.partner_id,
        message_id=row.message_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=_iso(row.next_attempt_at),
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_duration_ms=row.last_duration_ms,
        attempt_log=[
            DeliveryAttemptOut.model_validate(entry)
            for entry in json.loads(row.attempt_log or "[]")
        ],
        created_at=row.created_at.isoformat(),
        delivered_at=_iso(row.delivered_at),
    )


def check_webhook_host(url: str) -> str:
    """The URL's host in ASCII (IDNA), or WebhookError if no resolver could be asked for it.

    Why here: the resolver raises UnicodeError or ValueError (not a lookup failure) on a label over
    63 characters, a name over 253, or a NUL, so such a host must be refused before resolving."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        raise WebhookError("the URL is not valid") from None
    if not host:
        raise WebhookError("the URL has no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    try:
        ascii_host = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise WebhookError(
            f"the host is not a valid name (labels of 1-{MAX_LABEL} characters)"
        ) from None
    if not ascii_host or len(ascii_host) > MAX_HOST:
        raise WebhookError(f"the host name must be 1-{MAX_HOST} characters long")
    for label in ascii_host.split("."):
        if len(label) > MAX_LABEL or not _LABEL.match(label):
            raise WebhookError(
                f"the host is not a valid name (labels of 1-{MAX_LABEL} letters, digits or '-')"
            )
    return ascii_host


def parse_event_types(items: list[str]) -> list[str]:
    if not items:
        raise WebhookError("event_types must name at least one event type")
    unknown = [t for t in items if t not in EVENT_TYPES]
    if unknown:
        raise WebhookError(
            f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
    return list(dict.fromkeys(items))


class WebhookStore:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock
        self.version = 0  # bumped on every change the dispatcher's index must see

    # --- endpoints -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        partner_id: str,
        url: str,
        event_types: list[str],
        description: str | None,
        actor: str,
        max_per_partner: int,
    ) -> WebhookOut:
        types = parse_event_types(event_types)
        now = self._clock.now()
        async with self._db.session() as session:
            partner = await session.scalar(
                select(PartnerRow).where(PartnerRow.partner_id == partner_id)
            )
            if partner is None or partner.status == "deleted":
                raise WebhookNotFound(f"no partner {partner_id}")
            count = await session.scalar(
                select(func.count())
                .select_from(WebhookRow)
                .where(WebhookRow.partner_id == partner_id)
            )
            if int(count or 0) >= max_per_partner:
                raise WebhookError(f"a partner may register at most {max_per_partner} webhooks")
            row = WebhookRow(
                webhook_id=_id("wh_"),
                partner_id=partner_id,
                url=url,
                event_types=" ".join(types),
                description=description,
                status="active",
                consecutive_failures=0,
                created_at=now,
                created_by=actor,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            record_audit(
                session,
                actor=actor,
                action="webhook.create",
                target=row.webhook_id,
                detail={"partner": partner_id, "events": types},
            )
            view = webhook_view(row)
        self.version += 1
        return view

    async def get(self, webhook_id: str) -> WebhookOut:
        async with self._db.session() as session:
            row = await session.scalar(
                select(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
            )
        if row is None:
            raise WebhookNotFound(f"no webhook {webhook_id}")
        return webhook_view(row)

    async def list(
        self, *, partner_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[WebhookOut], int]:
        async with self._db.session() as session:
            query = select(WebhookRow)
            count = select(func.count()).select_from(WebhookRow)
            if partner_id is not None:
                query = query.where(WebhookRow.partner_id == partner_id)
                count = count.where(WebhookRow.partner_id == partner_id)
            total = int(await session.scalar(count) or 0)
            rows = await session.scalars(query.order_by(WebhookRow.id).limit(limit).offset(offset))
            return [webhook_view(row) for row in rows], total

    async def update(
        self,
        webhook_id: str,
        *,
        actor: str,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookOut:
        async with self._db.session() as session:
            row = await session.scalar(
                select(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
            )
            if row is None:
                raise WebhookNotFound(f"no webhook {webhook_id}")
            changed: dict[str, Any] = {}
            if url is not None and url != row.url:
                row.url = changed["url"] = url
            if event_types is not None:
                row.event_types = " ".join(parse_event_types(event_types))
                changed["event_types"] = row.event_types.split()
            if description is not None:
                row.description = changed["description"] = description
            if enabled is True and row.status != "active":
                owner = await session.scalar(
                    select(PartnerRow.status).where(PartnerRow.partner_id == row.partner_id)
                )
                if owner == "deleted":  # its endpoints were disabled for good with it
                    raise WebhookConflict(f"partner {row.partner_id} is deleted")
                row.status, row.disabled_reason, row.consecutive_failures = "active", None, 0
                changed["status"] = "active"
            elif enabled is False and row.status != "disabled":
                row.status, row.disabled_reason = "disabled", f"disabled by {actor}"
                changed["status"] = "disabled"
                await self._cancel_open(session, webhook_id, "endpoint disabled")
            if changed:
                row.updated_at = self._clock.now()
                record_audit(
                    session, actor=actor, action="webhook.update", target=webhook_id, detail=changed
                )
            view = webhook_view(row)
        self.version += 1
        return view

    async def delete(self, webhook_id: str, *, actor: str) -> None:
        async with self._db.session() as session:
            row = await session.scalar(
                select(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
            )
            if row is None:
                raise WebhookNotFound(f"no webhook {webhook_id}")
            await self._cancel_open(session, webhook_id, "endpoint deleted")
            await session.delete(row)
            record_audit(session, actor=actor, action="webhook.delete", target=webhook_id)
        self.version += 1

    async def disable_partner(self, partner_id: str, reason: str) -> int:
        """Disable every endpoint of a partner (deleted partners get nothing more)."""
        async with self._db.session() as session:
            rows = list(
                await session.scalars(
                    select(WebhookRow).where(
                        WebhookRow.partner_id == partner_id, WebhookRow.status == "active"
                    )
                )
            )
            for row in rows:
                row.status, row.disabled_reason = "disabled", reason
                row.updated_at = self._clock.now()
                await self._cancel_open(session, row.webhook_id, reason)
        self.version += 1
        return len(rows)

    async def _cancel_open(self, session: Any, webhook_id: str, reason: str) -> None:
        await session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.webhook_id == webhook_id,
                WebhookDeliveryRow.status.in_(OPEN_STATUSES),
            )
            .values(status="cancelled", last_error=reason, next_attempt_at=None)
        )

    async def active_index(self) -> dict[str, list[tuple[str, str]]]:
        """event type -> [(webhook id, partner id)] of active endpoints of active partners."""
        async with self._db.session() as session:
            result = await session.execute(
                select(WebhookRow.webhook_id, WebhookRow.partner_id, WebhookRow.event_types)
                .join(PartnerRow, PartnerRow.partner_id == WebhookRow.partner_id)
                .where(WebhookRow.status == "active", PartnerRow.status == "active")
            )
            index: dict[str, list[tuple[str, str]]] = {}
            for webhook_id, partner_id, types in result.all():
                for event_type in types.split():
                    index.setdefault(event_type, []).append((webhook_id, partner_id))
        return index

    # --- deliveries ----------------------------------------------------------------------------

    async def enqueue(
        self,
        targets: list[tuple[str, str]],
        event_type: str,
        data: dict[str, Any],
        message_id: str | None = None,
    ) -> list[int]:
        """One message (one id, one body) to each target; returns the delivery ids.

        With `message_id` (`event_message_id`: the same in every instance that sees the bus
        event) a target that already has that message gets nothing more: with several API
        instances behind Redis each one sees every event, and one delivery per endpoint goes out.
        """
        if not targets:
            return []
        now = self._clock.now()
        message_id = message_id or new_message_id()  # none given: a message of its own
        body = _body(event_type, data, now)
        rows = [
            {
                "webhook_id": webhook_id,
                "partner_id": partner_id,
                "message_id": message_id,
                "event_type": event_type,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "attempt_log": "[]",
                "created_at": now,
            }
            for webhook_id, partner_id in targets
        ]
        async with self._db.session() as session:
            insert = self._db.insert(WebhookDeliveryRow.__table__).on_conflict_do_nothing(  # type: ignore[arg-type]
                index_elements=["webhook_id", "message_id"]
            )
            await session.execute(insert, rows)
            ids = await session.scalars(
                select(WebhookDeliveryRow.id)
                .where(WebhookDeliveryRow.message_id == message_id)
                .order_by(WebhookDeliveryRow.id)
            )
            return list(ids)

    async def due(
        self, limit: int, exclude: set[int], *, claim_s: float = 60.0
    ) -> list[WebhookDeliveryRow]:
        """Up to `limit` due deliveries, each claimed for this process for `claim_s`: every
        API instance on the database runs a worker, and a delivery is attempted by the one
        whose conditional write moved it first (another finds it moved and skips it). A
        process that dies mid-attempt leaves it due again when the claim runs out."""
        now = self._clock.now()
        until = now + timedelta(seconds=claim_s)
        claimed: list[WebhookDeliveryRow] = []
        async with self._db.session() as session:
            query = (
                select(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.status.in_(OPEN_STATUSES),
                    WebhookDeliveryRow.next_attempt_at <= now,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit + len(exclude))
            )
            rows = [row for row in await session.scalars(query) if row.id not in exclude]
            for row in rows[:limit]:
                moved = await session.execute(
                    update(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.id == row.id,
                        WebhookDeliveryRow.status.in_(OPEN_STATUSES),
                        WebhookDeliveryRow.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=until)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row)
        return claimed

    async def next_due_at(self) -> datetime | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                    WebhookDeliveryRow.status.in_(OPEN_STATUSES)
                )
            )

    async def endpoint(self, webhook_id: str) -> WebhookRow | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(WebhookRow).where(WebhookRow.webhook_id == webhook_id)
            )

    async def record_attempt(
        self,
        delivery_id: int,
        *,
        ok: bool,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        retry_in_s: float | None,
        disable_reason: str | None,
        disable_after: int,
    ) -> DeliveryOut | None:
        """Store one attempt's outcome; move the delivery and its endpoint on. Returns the view."""
        now = self._clock.now()
        async with self._db.session() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            if delivery is None:
                return None
            endpoint = await session.scalar(
                select(WebhookRow).where(WebhookRow.webhook_id == delivery.webhook_id)
            )
            delivery.attempts += 1
            delivery.last_status_code = status_code
            delivery.last_error = error
            delivery.last_duration_ms = round(duration_ms, 2)
            log = json.loads(delivery.attempt_log or "[]")
            log.append(
                {
                    "at": now.isoformat(),
                    "status_code": status_code,
                    "error": error,
                    "duration_ms": round(duration_ms, 2),
                }
            )
            delivery.attempt_log = json.dumps(log)
            if ok:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                    "delivered",
                    now,
                    None,
                )
                if endpoint is not None:
                    endpoint.consecutive_failures = 0
                    endpoint.last_success_at = now
            else:
                if endpoint is not None:
                    endpoint.consecutive_failures += 1
                    endpoint.last_failure_at = now
                    if disable_reason is None and endpoint.consecutive_failures >= disable_after:
                        disable_reason = (
                            f"disabled after {endpoint.consecutive_failures} failed deliveries "
                            "in a row"
                        )
                if disable_reason is not None and endpoint is not None:
                    endpoint.status, endpoint.disabled_reason = "disabled", disable_reason
                    endpoint.updated_at = now
                    delivery.status, delivery.next_attempt_at = "failed", None
                    await session.flush()
                    await self._cancel_open(session, endpoint.webhook_id, disable_reason)
                    record_audit(
                        session,
                        actor="webhooks",
                        action="webhook.disable",
                        target=endpoint.webhook_id,
                        detail={"reason": disable_reason},
                    )
                    self.version += 1
                elif retry_in_s is None:
                    delivery.status, delivery.next_attempt_at = "failed", None
                else:
                    delivery.status = "retrying"
                    delivery.next_attempt_at = now + timedelta(seconds=retry_in_s)
            return delivery_view(delivery)

    async def postpone(self, delivery_id: int, seconds: float, reason: str) -> None:
        """Due again in `seconds`, no attempt counted (nothing reached the endpoint)."""
        async with self._db.session() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            if delivery is not None and delivery.status in OPEN_STATUSES:
                delivery.last_error = f"{reason}; trying again in {seconds:g}s"
                delivery.next_attempt_at = self._clock.now() + timedelta(seconds=seconds)

    async def release_partner(self, partner_id: str) -> None:
        """The partner's deliveries held while it was suspended are due now (not its retries
        waiting out their backoff, nor one another instance has claimed)."""
        async with self._db.session() as session:
            await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.partner_id == partner_id,
                    WebhookDeliveryRow.status.in_(OPEN_STATUSES),
                    WebhookDeliveryRow.last_error.startswith(HELD),
                )
                .values(next_attempt_at=self._clock.now())
            )

    async def cancel(self, delivery_id: int, reason: str) -> None:
        async with self._db.session() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            if delivery is not None and delivery.status in OPEN_STATUSES:
                delivery.status, delivery.last_error = "cancelled", reason
                delivery.next_attempt_at = None

    async def deliveries(
        self,
        *,
        webhook_id: str | None = None,
        partner_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[DeliveryOut], int]:
        async with self._db.session() as session:
            query = select(WebhookDeliveryRow)
            count = select(func.count()).select_from(WebhookDeliveryRow)
            for column, value in (
                (WebhookDeliveryRow.webhook_id, webhook_id),
                (WebhookDeliveryRow.partner_id, partner_id),
                (WebhookDeliveryRow.status, status),
            ):
                if value is not None:
                    query = query.where(column == value)
                    count = count.where(column == value)
            total = int(await session.scalar(count) or 0)
            rows = await session.scalars(
                query.order_by(WebhookDeliveryRow.id.desc()).limit(limit).offset(offset)
            )
            return [delivery_view(row) for row in rows], total

    async def delivery(self, delivery_id: int) -> DeliveryOut | None:
        async with self._db.session() as session:
            row = await session.get(WebhookDeliveryRow, delivery_id)
            return delivery_view(row) if row else None
