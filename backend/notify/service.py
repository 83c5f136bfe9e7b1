"""The `webhooks` service: maps bus events to webhook events, queues and delivers them.

Deliveries live in the database, so a restart resumes them; a worker picks the due ones (bounded
concurrency), retries failures on the configured schedule with jitter, and disables an endpoint
after repeated failure or a 410. Every API instance runs a worker; each due delivery is claimed
by one of them with a conditional write before it is attempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

from cryptography.fernet import InvalidToken
from sqlalchemy import select

from backend.auth.models import PartnerRow
from backend.core.bus import Event, Subscription
from backend.core.secrets import BackendSecrets, load_backend_secrets
from backend.core.service import ServiceContext
from backend.notify.delivery import attempt, retry_delay
from backend.notify.events import CHANNELS, TEST_EVENT, EventMapper
from backend.notify.models import WebhookDeliveryRow
from backend.notify.targets import RESOLVE_TIMEOUT_S
from backend.notify.webhooks import HELD, WebhookStore, event_message_id

log = logging.getLogger("hashinsight.webhooks")

HEALTH_NAME = "webhooks"
INDEX_REFRESH_S = 60.0
IDLE_WAIT_S = 5.0
POSTPONE_S = 60.0  # a delivery whose attempt could not run (not the endpoint's failure)
CLAIM_MARGIN_S = 30.0
HOLD_S = 300.0  # a suspended partner's delivery is looked at again (resuming releases it)


class WebhookService:
    name: ClassVar[str] = "webhooks"
    channels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.settings = context.settings
        self.store = WebhookStore(context.db, context.clock)
        self.mapper = EventMapper(self.settings.webhooks_price_move_pct)
        self._secrets: BackendSecrets | None = None
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._attempts: set[asyncio.Task[Any]] = set()
        self._index: dict[str, list[tuple[str, str]]] = {}
        self._index_version = -1
        self._index_at = 0.0
        self.delivered = 0
        self.failed_attempts = 0
        context.health.register(HEALTH_NAME, "webhook", "partner webhook endpoints", "unknown")

    async def start(self) -> None:
        self._secrets = load_backend_secrets(self.settings)
        if not self.settings.webhooks_enabled:
            self.context.health.set_status(HEALTH_NAME, "disabled", "webhooks_enabled is false")
            return
        self._subscription = self.context.bus.subscribe(
            CHANNELS, maxsize=10_000, policy="drop_oldest", name="webhooks"
        )
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="webhooks-dispatch"),
            asyncio.create_task(self._deliver_loop(), name="webhooks-deliver"),
        ]
        self.context.health.set_status(HEALTH_NAME, "ok", "dispatcher and worker running")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        for task in [*self._tasks, *self._attempts]:
            task.cancel()
        for task in [*self._tasks, *self._attempts]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    async def partner_changed(self, partner_id: str, status: str) -> None:
        """A partner was suspended or resumed: the dispatcher's index follows at once, and a
        resumed partner's held deliveries are due now."""
        self.store.version += 1
        if status == "active":
            await self.store.release_partner(partner_id)
            self.wake()

    # --- events -> deliveries ------------------------------------------------------------------

    async def _targets(self, event_type: str) -> list[tuple[str, str]]:
        now = self.context.clock.monotonic()
        if self._index_version != self.store.version or now - self._index_at > INDEX_REFRESH_S:
            version = self.store.version
            self._index = await self.store.active_index()
            self._index_version, self._index_at = version, now
        return list(self._index.get(event_type, ()))

    async def publish(
        self, event_type: str, data: dict[str, Any], message_id: str | None = None
    ) -> list[int]:
        """Queue one webhook event for every active endpoint subscribed to it (once per
        endpoint for a given `message_id`)."""
        targets = await self._targets(event_type)
        ids = await self.store.enqueue(targets, event_type, data, message_id)
        if ids:
            self.wake()
        return ids

    async def send_test(self, webhook_id: str, partner_id: str) -> int:
        data = {"webhook_id": webhook_id, "message": "a test event from HashInsight"}
        (delivery_id,) = await self.store.enqueue([(webhook_id, partner_id)], TEST_EVENT, data)
        self.wake()
        return delivery_id

    async def handle(self, event: Event) -> None:
        for event_type, data in self.mapper.map(event):
            await self.publish(event_type, data, event_message_id(event, event_type))

    async def _dispatch(self) -> None:
        assert self._subscription is not None
        async for event in self._subscription:
            try:
                await self.handle(event)
            except Exception as exc:  # one bad event must not stop the dispatcher
                log.warning("webhook dispatch of %s failed: %s", event.type, type(exc).__name__)

    # --- deliveries -> HTTP --------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        limit = self.settings.webhooks_concurrency
        while True:
            self._wake.clear()
            try:
                free = limit - len(self._in_flight)
                due = (
                    await self.store.due(free, set(self._in_flight), claim_s=self._claim_s())
                    if free > 0
                    else []
                )
                for delivery in due:
                    self._in_flight.add(delivery.id)
                    task = asyncio.create_task(self._attempt(delivery.id))
                    self._attempts.add(task)
                    task.add_done_callback(self._attempts.discard)
                wait = IDLE_WAIT_S
                if not due:
                    next_at = await self.store.next_due_at()
                    if next_at is not None:
                        delta = (next_at - datetime.now(UTC)).total_seconds()
                        wait = min(IDLE_WAIT_S, max(0.01, delta))
                else:
                    wait = 0.05
            except Exception as exc:  # the database may be briefly unavailable
                log.warning("webhook worker: %s", type(exc).__name__)
                wait = IDLE_WAIT_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _claim_s(self) -> float:
        """How long a claimed delivery is this process's: longer than any attempt can take
        (the target's DNS check, then the whole exchange within the timeout)."""
        return RESOLVE_TIMEOUT_S + self.settings.webhooks_timeout_s + CLAIM_MARGIN_S

    async def _attempt(self, delivery_id: int) -> None:
        try:
            await self._attempt_once(delivery_id)
        except Exception as exc:
            # Never due again at once: a fault that repeats would spin the worker and the log.
            log.warning("webhook delivery %s failed to run: %s", delivery_id, type(exc).__name__)
            with contextlib.suppress(Exception):
                await self.store.postpone(
                    delivery_id, POSTPONE_S, f"internal error: {type(exc).__name__}"
                )
        finally:
            self._in_flight.discard(delivery_id)
            self.wake()

    async def _attempt_once(self, delivery_id: int) -> None:
        async with self.context.db.session() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            partner = None
            if delivery is not None:
                partner = await session.scalar(
                    select(PartnerRow).where(PartnerRow.partner_id == delivery.partner_id)
                )
        if delivery is None or delivery.status not in ("pending", "retrying"):
            return
        endpoint = await self.store.endpoint(delivery.webhook_id)
        if endpoint is None or endpoint.status != "active":
            await self.store.cancel(delivery_id, "endpoint disabled or deleted")
            return
        if partner is not None and partner.status == "suspended":
            # Paused, not lost: it goes out once the partner is resumed (`partner_changed`).
            await self.store.postpone(delivery_id, HOLD_S, f"{HELD}the partner is suspended")
            return
        if partner is None or partner.status != "active":
            await self.store.cancel(delivery_id, "partner is not active")
            return
        assert self._secrets is not None
        try:
            secret = self._secrets.fernet.decrypt(partner.secret_encrypted).decode()
        except InvalidToken:
            await self.store.cancel(delivery_id, "signing secret unreadable (Fernet key changed?)")
            return
        result = await attempt(
            self.context.http.client,
            url=endpoint.url,
            secret=secret,
            message_id=delivery.message_id,
            body=delivery.payload.encode(),
            timeout_s=self.settings.webhooks_timeout_s,
            allow_private=self.settings.webhooks_allow_private,
            allow_http=self.settings.webhooks_allow_http,
        )
        if result.ok:
            self.delivered += 1
        else:
            self.failed_attempts += 1
        retry = None
        if not result.ok:
            retry = retry_delay(self.settings.webhooks_retry_schedule_s, delivery.attempts + 1)
        await self.store.record_attempt(
            delivery_id,
            ok=result.ok,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
            retry_in_s=retry,
            disable_reason="the endpoint answered 410 Gone" if result.gone else None,
            disable_after=self.settings.webhooks_disable_after,
        )
        self.context.health.set_status(
            HEALTH_NAME,
            "ok",
            f"{self.delivered} delivered · {self.failed_attempts} failed attempts "
            f"(partner endpoints' failures do not degrade this service)",
        )
