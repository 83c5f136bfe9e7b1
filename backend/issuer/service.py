"""The issuer service: wires the Bitmart and ndau clients, the signer hub, the lease and the state
machine into the backend, and answers the API's questions (status, issues, decisions,
reconciliation). It publishes on the bus channel `issues`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from backend.core.secrets import read_operator_token
from backend.core.service import ServiceContext
from backend.issuer.apikey import BitmartApiKey, find_key_file, load_api_key
from backend.issuer.bitmart import BitmartClient
from backend.issuer.crash import CrashHook
from backend.issuer.engine import EngineConfig, IssuerEngine
from backend.issuer.errors import IssuerConfigError, IssuerError
from backend.issuer.lease import Lease
from backend.issuer.ndau_node import NdauNodeClient
from backend.issuer.signer_hub import SignerHub
from backend.issuer.states import ALL_STATES, PENDING, IssueState
from backend.issuer.store import (
    CHANNEL,
    CursorExists,
    IssueStore,
    StaleState,
    dt_to_ms,
    issue_out,
    ms_to_dt,
    ndau_text,
    trade_out,
)
from backend.ndau import signer_protocol as proto
from backend.ndau.keys import NdauKeyError, PublicKey
from hashinsight_contract.issuer import (
    Amount,
    BitmartStatusOut,
    CountedAmount,
    CursorOut,
    IssueDetailOut,
    IssueListOut,
    IssueOut,
    IssuerStatusOut,
    LeaseOut,
    NodeStatusOut,
    ReconciliationOut,
    TotalsOut,
)

log = logging.getLogger("hashinsight.issuer")
S = IssueState
SIGNER_HEALTH = "issuer-signer"


class IssueNotFound(IssuerError):
    pass


class DecisionConflict(IssuerError):
    """The issue is not in a state that allows this decision (e.g. already decided)."""


def parse_start(value: str, now: datetime) -> int:
    """ "now" or an ISO-8601 time with a timezone -> epoch milliseconds."""
    text = value.strip()
    if text.lower() == "now":
        return dt_to_ms(now)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise IssuerConfigError(
            f'starting point {text[:40]!r} is not "now" or an ISO-8601 time'
        ) from None
    if parsed.tzinfo is None:
        raise IssuerConfigError("starting point needs a timezone (e.g. a trailing Z for UTC)")
    return dt_to_ms(parsed)


def parse_allow_list(text: str) -> list[PublicKey]:
    keys = []
    for item in (part.strip() for part in text.replace("\n", ",").split(",")):
        if not item:
            continue
        try:
            keys.append(PublicKey.from_text(item))
        except NdauKeyError as exc:
            raise IssuerConfigError(f"issuer_signer_keys: {exc}") from None
    return keys


def amount(napu: int) -> Amount:
    return Amount(napu=str(napu), ndau=ndau_text(napu))


def counted(totals: dict[str, int]) -> CountedAmount:
    """A store total ({"count", "napu"}) as an API amount with its count."""
    napu = totals.get("napu", 0)
    return CountedAmount(napu=str(napu), ndau=ndau_text(napu), count=totals.get("count", 0))


class IssuerService:
    name: ClassVar[str] = "issuer"
    channels: ClassVar[frozenset[str]] = frozenset({CHANNEL})

    def __init__(self, context: ServiceContext, *, env: dict[str, str] | None = None) -> None:
        self.context = context
        settings = context.settings
        self.settings = settings
        self.problems: list[str] = []
        self.key: BitmartApiKey | None = None
        self.key_file: str | None = None
        try:
            allowed = parse_allow_list(settings.issuer_signer_keys)
        except IssuerConfigError as exc:
            self.problems.append(str(exc))
            allowed = []
        if not allowed:
            self.problems.append(
                "no signing service is allowed: set HASHINSIGHT_ISSUER_SIGNER_KEYS to the "
                "signer's identity npub"
            )
        self.hub = SignerHub(allowed, on_change=self._signer_changed)
        self.node = NdauNodeClient(context.http, settings.ndau_node_url)
        self.bitmart: BitmartClient | None = None
        if settings.issuer_enabled:
            try:
                path = find_key_file(settings.config_dir, settings.issuer_bitmart_key_file)
                self.key_file = str(path)
                self.key = load_api_key(path)
                self.bitmart = BitmartClient(
                    context.http,
                    self.key,
                    base_url=settings.bitmart_url,
                    symbol=settings.issuer_symbol,
                    clock=context.clock,
                )
            except IssuerConfigError as exc:
                self.problems.append(str(exc))
        self.store = IssueStore(
            context.db, context.clock, context.bus, cursor_name=f"bitmart:{settings.issuer_symbol}"
        )
        self.lease = Lease(context.db, context.clock, settings.issuer_lease_ttl_s)
        bitmart_url = self.bitmart.base_url if self.bitmart else settings.bitmart_url
        crash = CrashHook.from_env(
            os.environ if env is None else env, bitmart_url, settings.ndau_node_url
        )
        self.engine = IssuerEngine(
            store=self.store,
            lease=self.lease,
            bitmart=self.bitmart,
            node=self.node,
            hub=self.hub,
            clock=context.clock,
            bus=context.bus,
            config=EngineConfig(
                mode=settings.issuer_mode,
                poll_s=settings.issuer_poll_s,
                settle_ms=int(settings.issuer_settle_s * 1000),
                max_window_ms=int(settings.issuer_max_window_s * 1000),
                lookback_ms=int(settings.issuer_lookback_s * 1000),
                sign_timeout_s=settings.issuer_sign_timeout_s,
                approval_alert_s=settings.issuer_approval_alert_s,
            ),
            crash=crash,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.demo_signer: Any = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def enabled(self) -> bool:
        return self.settings.issuer_enabled

    @property
    def configured(self) -> bool:
        return self.enabled and not self.problems

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def start(self) -> None:
        health = self.context.health
        health.register(SIGNER_HEALTH, "websocket", proto.PATH)
        health.register("bitmart", "exchange", self.settings.bitmart_url)
        if not self.configured:
            # Nothing can be issued, so nothing is polled: each integration says why instead.
            why = (
                "issuer disabled (HASHINSIGHT_ISSUER_ENABLED=false)"
                if not self.enabled
                else "issuer not configured: " + "; ".join(self.problems)
            )
            for name in ("bitmart", "ndau-node", SIGNER_HEALTH):
                health.set_status(name, "disabled", why[:300])
            return
        self._signer_changed()
        if self.settings.issuer_start_at:
            await self._start_from_settings(self.settings.issuer_start_at)
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self.engine.run(self._stop), name="issuer"))
        if self.settings.issuer_demo_signer_config is not None:
            self._start_demo_signer()

    async def _start_from_settings(self, value: str) -> None:
        if await self.store.cursor() is not None:
            return
        try:
            start_ms = parse_start(value, self.context.clock.now())
            await self.store.create_cursor(start_ms, actor="settings (issuer_start_at)")
        except CursorExists:
            pass
        except IssuerConfigError as exc:
            self.problems.append(str(exc))

    def _start_demo_signer(self) -> None:
        from backend.signer.client import SigningService
        from backend.signer.config import SignerConfigError, load_signer_config

        path = self.settings.issuer_demo_signer_config
        assert path is not None
        try:
            config = load_signer_config(path, require_urls=False)
        except SignerConfigError as exc:
            self.problems.append(f"demo signer: {exc}")
            return

        async def own_hub() -> str | None:
            token = read_operator_token(self.settings)
            url = token.get("url") if token else None
            if not isinstance(url, str) or "://" not in url:
                return None
            parts = urlsplit(url)
            scheme = "wss" if parts.scheme == "https" else "ws"
            return f"{scheme}://{parts.netloc}{proto.PATH}"

        self.demo_signer = SigningService(config, url_sources=[own_hub])
        self._tasks.append(asyncio.create_task(self.demo_signer.run(), name="demo-signer"))

    async def stop(self) -> None:
        self._stop.set()
        if self.demo_signer is not None:
            self.demo_signer.request_stop()
        await self.hub.close()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), 3)
            except (TimeoutError, Exception):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.lease.release()

    def _signer_changed(self) -> None:
        health = self.context.health
        count = len(self.hub.sessions)
        if count:
            names = ", ".join(s.name for s in self.hub.sessions.values())
            health.success(SIGNER_HEALTH, 0.0, f"{count} connected: {names}")
        elif self.configured:
            detail = "no signing service connected"
            if self.hub.last_rejection:
                detail += f" (last refused: {self.hub.last_rejection})"
            health.set_status(SIGNER_HEALTH, "down", detail[:300])
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.retry_now()
        self.context.bus.emit("issuer.signer", self.hub.status())

    # ------------------------------------------------------------------ API

    async def status(self) -> IssuerStatusOut:
        clock = self.context.clock
        cursor = await self.store.cursor()
        lease = await self.lease.current()
        by_state = await self.store.totals_by_state()
        cutoff = clock.now() - timedelta(seconds=self.settings.issuer_approval_alert_s)
        overdue = await self.store.count_overdue(cutoff)
        engine = self.engine
        rfe, supply = engine.rfe, engine.supply
        node_health = self.context.health.get("ndau-node")
        pending = sum(by_state.get(s, {}).get("napu", 0) for s in PENDING)
        sales = sum(v["napu"] for v in by_state.values())
        return IssuerStatusOut(
            enabled=self.enabled,
            configured=self.configured,
            running=self.running,
            problems=list(self.problems),
            mode=self.settings.issuer_mode,
            symbol=self.settings.issuer_symbol,
            needs_start=cursor is None,
            cursor=None
            if cursor is None
            else CursorOut(
                cursor_at=ms_to_dt(cursor.cursor_ms).isoformat(),
                started_from=ms_to_dt(cursor.started_from_ms).isoformat(),
                started_by=cursor.started_by,
            ),
            bitmart=BitmartStatusOut(
                url=self.bitmart.base_url if self.bitmart else self.settings.bitmart_url,
                key_file=os.path.basename(self.key_file) if self.key_file else None,
                access_hint=self.key.access_hint if self.key else None,
                last_poll_at=engine.last_poll_at,
                last_poll_ok_at=engine.last_poll_ok_at,
                last_error=engine.last_poll_error,
                polls=engine.polls,
            ),
            signer=self.hub.status(),
            node=NodeStatusOut(
                url=self.settings.ndau_node_url,
                status=node_health.status if node_health else "unknown",
                last_error=engine.node_error or (node_health.last_error if node_health else None),
                checked_at=engine.chain_checked_at,
                rfe_address=rfe.address if rfe else None,
                rfe_sequence=rfe.sequence if rfe else None,
                validation_keys=[k.to_text() for k in rfe.validation_keys] if rfe else [],
                total_released=amount(supply.total_released_napu) if supply else None,
                total_issued=amount(supply.total_issued_napu) if supply else None,
                issuable=amount(supply.issuable_napu) if supply else None,
            ),
            lease=LeaseOut(
                me=self.lease.holder,
                held_by_me=self.lease.held,
                holder=lease.holder if lease else None,
                token=lease.token if lease else None,
                expires_at=lease.expires_at.isoformat() if lease else None,
            ),
            totals=TotalsOut(
                by_state={state: counted(by_state.get(state, {})) for state in ALL_STATES},
                recorded_sales=amount(sales),
                issued=amount(by_state.get(S.CONFIRMED, {}).get("napu", 0)),
                pending=amount(pending),
                rejected=amount(by_state.get(S.REJECTED, {}).get("napu", 0)),
            ),
            awaiting_approval=by_state.get(S.AWAITING_APPROVAL, {}).get("count", 0),
            overdue_approvals=overdue,
            blocked=engine.blocked,
            pipeline_error=engine.pipeline_error,
        )

    async def list_issues(
        self, states: list[str] | None, limit: int, before_id: int | None
    ) -> IssueListOut:
        """A page of issues, newest first; a full page says where the next (older) one starts."""
        rows = await self.store.list(states, limit, before_id)
        issues = [issue_out(row) for row in rows]
        next_before = issues[-1].id if len(issues) == limit else None
        return IssueListOut(issues=issues, next_before_id=next_before)

    async def issue_detail(self, issue_id: int) -> IssueDetailOut:
        row = await self.store.get(issue_id)
        if row is None:
            raise IssueNotFound(f"no issue {issue_id}")
        trades = await self.store.trades(issue_id)
        return IssueDetailOut(
            **dict(issue_out(row)),
            signed_tx=None if row.signed_tx is None else json.loads(row.signed_tx),
            trades=[trade_out(t) for t in trades],
        )

    async def decide(
        self, issue_id: int, *, approve: bool, actor: str, reason: str | None, source: str | None
    ) -> IssueOut:
        target = S.APPROVED if approve else S.REJECTED
        if await self.store.get(issue_id) is None:
            raise IssueNotFound(f"no issue {issue_id}")
        try:
            row = await self.store.transition(
                None,
                issue_id,
                [S.AWAITING_APPROVAL],
                target,
                actor=actor,
                source=source,
                decided_by=actor[:120],
                decided_at=self.context.clock.now(),
                decision_reason=reason,
            )
        except StaleState as exc:
            raise DecisionConflict(
                f"issue {issue_id} is {exc.current}, not awaiting approval"
            ) from None
        self.engine.retry_now()
        return issue_out(row)

    async def retry(
        self, issue_id: int, *, actor: str, reason: str | None, source: str | None
    ) -> IssueOut:
        row = await self.store.get(issue_id)
        if row is None:
            raise IssueNotFound(f"no issue {issue_id}")
        if row.state != S.FAILED:
            raise DecisionConflict(f"issue {issue_id} is {row.state}, not failed")
        # Resume with the same tx when one exists: a new sequence is never chosen here.
        target = S.SIGNED if row.signed_tx else S.SIGNING if row.sequence else S.APPROVED
        try:
            row = await self.store.transition(
                None,
                issue_id,
                [S.FAILED],
                target,
                actor=actor,
                source=source,
                attempts=0,
                audit_detail={"reason": reason} if reason else None,
            )
        except StaleState as exc:
            raise DecisionConflict(f"issue {issue_id} is {exc.current}, not failed") from None
        self.engine.retry_now(issue_id)
        return issue_out(row)

    async def set_start(self, value: str, *, actor: str, source: str | None) -> IssuerStatusOut:
        start_ms = parse_start(value, self.context.clock.now())
        try:
            await self.store.create_cursor(start_ms, actor=actor, source=source)
        except CursorExists:
            raise DecisionConflict(
                "the issuer already has a starting point; it is never moved"
            ) from None
        self.engine.retry_now()
        return await self.status()

    async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The report's issuer section: ndau issued (confirmed on chain) in the period."""
        rows = await self.store.confirmed_between(start, end)
        return {
            "symbol": self.settings.issuer_symbol,
            "issued": amount(sum(row.qty_napu for row in rows)).model_dump(),
            "issues": [
                {
                    "id": row.id,
                    "qty": amount(row.qty_napu).model_dump(),
                    "trades": row.trade_count,
                    "tx_hash": row.tx_hash,
                    "block_height": row.block_height,
                    "confirmed_at": row.confirmed_at,
                }
                for row in rows
            ],
        }

    async def reconciliation(self, start_ms: int, end_ms: int, *, live: bool) -> ReconciliationOut:
        if end_ms <= start_ms:
            raise IssuerConfigError("end must be after start")
        by_state = await self.store.trade_totals(start_ms, end_ms)
        cursor = await self.store.cursor()
        covered_until = cursor.cursor_ms if cursor else None
        recorded = sum(v["napu"] for v in by_state.values())
        issued = by_state.get(S.CONFIRMED, {}).get("napu", 0)
        rejected = by_state.get(S.REJECTED, {}).get("napu", 0)
        bitmart_sales: Amount | None = None
        unrecorded: Amount | None = None
        if live:
            if self.bitmart is None:
                raise IssuerConfigError("Bitmart is not configured; cannot check live sales")
            # The issuer answers for sales from its starting point up to where it has scanned.
            scan_start = max(start_ms, cursor.started_from_ms) if cursor else start_ms
            scan_end = min(end_ms, covered_until) if covered_until else scan_start
            trades = (
                await self.bitmart.fetch_sells(scan_start, scan_end)
                if scan_end > scan_start
                else []
            )
            live_total = sum(t.napu() for t in trades)
            bitmart_sales = amount(live_total)
            unrecorded = amount(live_total - recorded)
        return ReconciliationOut(
            start=ms_to_dt(start_ms).isoformat(),
            end=ms_to_dt(end_ms).isoformat(),
            started_from=ms_to_dt(cursor.started_from_ms).isoformat() if cursor else None,
            scanned_until=ms_to_dt(covered_until).isoformat() if covered_until else None,
            complete=covered_until is not None and covered_until >= end_ms,
            recorded_sales=amount(recorded),
            trades=sum(v["count"] for v in by_state.values()),
            issued=amount(issued),
            rejected=amount(rejected),
            pending=amount(recorded - issued - rejected),
            difference=amount(recorded - issued),
            by_state={k: counted(v) for k, v in by_state.items()},
            bitmart_sales=bitmart_sales,
            unrecorded=unrecorded,
        )
