"""The notary service: builds, signs, pins and anchors a report daily and on demand.

The schedule is one run a day at ``notary_schedule_utc`` (UTC) covering the preceding
``notary_period_h`` hours; a backend that was down at that time catches up once when it starts
(a fresh installation waits for its first slot). Unfinished notarizations resume at start.
Across processes sharing one database only the holder of the `notary-scheduler` lease runs the
schedule and resumes unfinished runs; any instance still serves reads and on-demand requests.
Other services contribute report sections through :class:`backend.notary.report.ReportSource`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select

from backend.core.audit import record_audit
from backend.core.backoff import exponential
from backend.core.lease import Lease
from backend.core.service import ServiceContext
from backend.notary.anchor import AnchorChain, embedded_chain, rpc_chain
from backend.notary.cid import normalize_cid
from backend.notary.ipfs_store import LocalIpfsStore
from backend.notary.models import NotarizationRow
from backend.notary.pinata import PinataClient
from backend.notary.pipeline import CHANNEL, NotaryPipeline, StepHook, notarization_out
from backend.notary.signing import NotaryKey, load_notary_key
from backend.notary.verify import verify_notarization
from hashinsight_contract.events import NotaryVerified
from hashinsight_contract.notary import (
    CheckOut,
    NotarizationList,
    NotarizationOut,
    NotaryInfo,
    VerificationOut,
)

log = logging.getLogger("hashinsight.notary")

RETRY_BASE_S = 10.0
RETRY_MAX_S = 600.0
MAX_SLEEP_S = 60.0
SCHEDULER_LEASE = "notary-scheduler"
SCHEDULER_LEASE_TTL_S = 3 * MAX_SLEEP_S  # renewed at least every MAX_SLEEP_S by the loop


class NotaryUnavailable(Exception):
    """The notary is disabled or not started; the message says which."""


class NotaryService:
    name: ClassVar[str] = "notary"
    channels: ClassVar[frozenset[str]] = frozenset({CHANNEL})

    def __init__(
        self,
        context: ServiceContext,
        services: Callable[[], Mapping[str, object]] | None = None,
        *,
        after_step: StepHook | None = None,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.context = context
        self.settings = context.settings
        self._services = services or dict
        self._after_step = after_step
        self._retry_base_s = retry_base_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._driving: set[int] = set()
        self.key: NotaryKey | None = None
        self.store = LocalIpfsStore(self.settings.data_dir / "ipfs")
        self.pinata: PinataClient | None = None
        self.chain: AnchorChain | None = None
        self.pipeline: NotaryPipeline | None = None
        self.lease = Lease(context.db, context.clock, SCHEDULER_LEASE_TTL_S, name=SCHEDULER_LEASE)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        if not settings.notary_enabled:
            return
        self.key = await asyncio.to_thread(load_notary_key, settings)
        if settings.pinata_jwt is not None and not settings.blockchain_disable_ipfs:
            self.pinata = PinataClient(
                self.context.http,
                settings.pinata_url,
                settings.pinata_gateway_url,
                settings.pinata_jwt.get_secret_value(),
                settings.http_timeout_s,
            )
        if settings.base_l2_rpc:
            self.chain = rpc_chain(
                self.context.http,
                self.context.health,
                settings.base_l2_rpc,
                settings.notary_chain_timeout_s,
            )
        else:
            self.chain = embedded_chain(self.context.health, settings.notary_chain_timeout_s)
        self.pipeline = NotaryPipeline(
            db=self.context.db,
            bus=self.context.bus,
            clock=self.context.clock,
            key=self.key,
            store=self.store,
            pinata=self.pinata,
            chain=self.chain,
            services=self._services,
            confirmations=settings.notary_confirmations,
            receipt_timeout_s=settings.notary_receipt_timeout_s,
            max_attempts=settings.notary_max_attempts,
            audit_rows_max=settings.notary_audit_rows_max,
            after_step=self._after_step,
        )
        self._spawn(self._schedule(), "notary-schedule")
        log.info("notary started: signer %s, chain %s", self.key.address, self.chain.target)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        try:
            await self.lease.release()
        except Exception as exc:  # the next scheduler then waits for expiry instead
            log.warning("notary: releasing the scheduler lease failed: %s", type(exc).__name__)
        if self.chain is not None:
            await self.chain.close()

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _ready(self) -> NotaryPipeline:
        if not self.settings.notary_enabled:
            raise NotaryUnavailable("the notary is disabled (notary_enabled = false)")
        if self.pipeline is None:
            raise NotaryUnavailable("the notary is not started")
        return self.pipeline

    # --- public interface -----------------------------------------------------------------

    @property
    def signer(self) -> str | None:
        return self.key.address if self.key else None

    def info(self) -> NotaryInfo:
        """How this backend notarizes: signer, anchor chain, pinning and schedule."""
        settings = self.settings
        return NotaryInfo(
            enabled=settings.notary_enabled,
            signer=self.signer,
            chain=self.chain.kind if self.chain else None,
            chain_target=self.chain.target if self.chain else None,
            pin_provider="pinata" if self.pinata else "local",
            schedule_utc=settings.notary_schedule_utc,
            period_hours=settings.notary_period_h,
            confirmations=settings.notary_confirmations,
        )

    async def request(
        self, *, requested_by: str, period_h: float | None = None, trigger: str = "manual"
    ) -> NotarizationOut:
        """Create a notarization of the last `period_h` hours and start its pipeline."""
        pipeline = self._ready()
        end = self.context.clock.now()
        start = end - timedelta(hours=period_h or self.settings.notary_period_h)
        view = await pipeline.create(
            trigger=trigger, requested_by=requested_by, period_start=start, period_end=end
        )
        self.drive(view.id)
        return view

    def drive(self, notarization_id: int) -> None:
        """Run a notarization to its end in the background (retrying passing failures)."""
        if notarization_id not in self._driving:
            self._driving.add(notarization_id)
            self._spawn(self._drive(notarization_id), f"notarization-{notarization_id}")

    async def _drive(self, notarization_id: int) -> None:
        pipeline = self._ready()
        try:
            while True:
                view = await pipeline.run(notarization_id)
                if view is None or view.status != "running":
                    return
                delay = exponential(view.attempts, base_s=self._retry_base_s, cap_s=RETRY_MAX_S)
                await asyncio.sleep(delay)
        except Exception:  # never let one notarization take the service down
            log.exception("notarization %s: pipeline crashed", notarization_id)
        finally:
            self._driving.discard(notarization_id)

    async def wait(self, notarization_id: int, timeout_s: float = 30.0) -> NotarizationOut | None:
        """Wait until a notarization is no longer running (tests, CLI); None for an unknown id."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            view = await self.get(notarization_id)
            if view is None or view.status != "running":
                return view
            if asyncio.get_running_loop().time() > deadline:
                return view
            await asyncio.sleep(0.05)

    async def get(self, notarization_id: int) -> NotarizationOut | None:
        row = await self._ready().get_row(notarization_id)
        return notarization_out(row) if row else None

    async def list(
        self, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> NotarizationList:
        query = select(NotarizationRow)
        count = select(func.count()).select_from(NotarizationRow)
        if status:
            query = query.where(NotarizationRow.status == status)
            count = count.where(NotarizationRow.status == status)
        async with self.context.db.session() as session:
            total = int(await session.scalar(count) or 0)
            rows = await session.scalars(
                query.order_by(NotarizationRow.id.desc()).limit(limit).offset(offset)
            )
            return NotarizationList(items=[notarization_out(row) for row in rows], total=total)

    async def document(self, notarization_id: int) -> bytes | None:
        row = await self._ready().get_row(notarization_id)
        return row.document.encode("utf-8") if row and row.document else None

    async def verify(self, notarization_id: int) -> VerificationOut | None:
        pipeline = self._ready()
        row = await pipeline.get_row(notarization_id)
        if row is None:
            return None
        assert self.chain is not None
        result = await verify_notarization(
            row,
            store=self.store,
            pinata=self.pinata,
            chain=self.chain,
            confirmations=self.settings.notary_confirmations,
        )
        self.context.bus.emit(
            "notary.verified",
            # not "id": the console keeps the latest notary.update per id on this channel
            NotaryVerified(
                notarization_id=notarization_id, ok=result.ok, failed_step=result.failed_step
            ),
        )
        return VerificationOut(
            id=result.id,
            ok=result.ok,
            failed_step=result.failed_step,
            checks=[CheckOut(step=c.step, ok=c.ok, detail=c.detail) for c in result.checks],
        )

    async def retry(self, notarization_id: int, actor: str) -> NotarizationOut | None:
        """Give a failed notarization another run from the step that failed."""
        pipeline = self._ready()
        async with self.context.db.session() as session:
            row = await session.get(NotarizationRow, notarization_id)
            if row is None:
                return None
            if row.status == "failed":
                row.status = "running"
                row.attempts = 0
                row.updated_at = self.context.clock.now()
                record_audit(
                    session, actor=actor, action="notary.retry", target=f"notarization:{row.id}"
                )
        self.drive(notarization_id)
        row = await pipeline.get_row(notarization_id)
        return notarization_out(row) if row else None

    async def cat(self, cid: str) -> bytes:
        """Bytes of the local store by CID (raises InvalidCid/ContentNotFound/ContentCorrupt)."""
        return await self.store.cat(normalize_cid(cid))

    # --- background -----------------------------------------------------------------------

    async def _resume(self) -> None:
        pipeline = self._ready()
        for notarization_id in await pipeline.unfinished():
            log.info("notarization %s: resuming", notarization_id)
            self.drive(notarization_id)

    async def _hold_lease(self) -> bool:
        """Renew (or take) the scheduler lease; resume unfinished runs on taking it."""
        had = self.lease.held
        try:
            held = await self.lease.renew()
        except Exception as exc:  # a database blip: try again next round
            log.warning("notary: scheduler lease renewal failed: %s", type(exc).__name__)
            return False
        if held and not had:
            log.info("notary: scheduler lease acquired (token %s)", self.lease.token)
            try:
                await self._resume()
            except Exception:
                log.exception("notary: resuming unfinished notarizations failed")
        return held

    async def _schedule(self) -> None:
        while True:
            if not await self._hold_lease():
                await asyncio.sleep(SCHEDULER_LEASE_TTL_S / 3)
                continue
            now = self.context.clock.now()
            slot = last_slot(now, self.settings.notary_schedule_utc)
            if await self._slot_missed(slot):
                try:
                    await self._scheduled(slot)
                except Exception:
                    log.exception("notary: scheduled run failed to start")
            wait = (slot + timedelta(days=1) - self.context.clock.now()).total_seconds()
            await asyncio.sleep(min(MAX_SLEEP_S, max(1.0, wait)))

    async def _slot_missed(self, slot: datetime) -> bool:
        """A slot is due when a scheduled run exists before it but none at or after it."""
        async with self.context.db.session() as session:
            latest = await session.scalar(
                select(func.max(NotarizationRow.period_end)).where(
                    NotarizationRow.trigger == "schedule"
                )
            )
        if latest is None:
            return self.context.clock.now() - slot < timedelta(seconds=MAX_SLEEP_S * 1.5)
        return latest < slot

    async def _scheduled(self, slot: datetime) -> None:
        pipeline = self._ready()
        start = slot - timedelta(hours=self.settings.notary_period_h)
        view = await pipeline.create(
            trigger="schedule", requested_by="scheduler", period_start=start, period_end=slot
        )
        self.drive(view.id)


def last_slot(now: datetime, hhmm: str) -> datetime:
    """The latest daily slot at HH:MM UTC at or before `now`."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return slot if slot <= now else slot - timedelta(days=1)
