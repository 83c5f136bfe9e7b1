"""The issuer's state machine: Bitmart sales in, exactly one confirmed Issue per batch out.

Rules that make it exactly-once:

* Durable first. Each step commits its outcome (fenced by the lease) before the next external
  step: the batch and the cursor together; the qty, sequence and hash before asking for
  signatures; the signed tx before prevalidating; "submitted" before POSTing it.
* One sequence in flight. Only one issue holds a sequence at a time. On restart an issue in
  signing/signed/submitted is resumed with the same qty and sequence, i.e. the same tx and hash,
  so resubmitting is idempotent (the node answers 202/1002 "already committed").
* A new sequence only when the old tx is provably dead: the RFE account's sequence has reached
  ours (read first) and the chain does not have our hash (read second), on two readings at least
  a poll interval apart (a node may index a tx a moment after committing it). Only a node's
  explicit "no such tx" counts as absent; a malformed or foreign reply is an error, never a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from backend.core.backoff import exponential
from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.issuer.bitmart import BitmartClient
from backend.issuer.crash import CrashHook
from backend.issuer.errors import (
    IssuerError,
    LeaseLost,
    NdauNodeError,
    SignerRefused,
    SignerUnavailable,
)
from backend.issuer.lease import Lease
from backend.issuer.models import IssueRow
from backend.issuer.ndau_node import NdauAccount, NdauNodeClient, NdauSupply
from backend.issuer.signer_hub import SignerHub
from backend.issuer.states import IssueState
from backend.issuer.store import Batch, IssueStore, StaleState, issue_out
from backend.ndau.keys import verify
from backend.ndau.tx import IssueTx, IssueTxError
from hashinsight_contract.events import IssueAlert, IssuerRunState

log = logging.getLogger("hashinsight.issuer.engine")
S = IssueState
Verdict = Literal["landed", "dead", "open"]
MAX_BACKOFF_S = 60.0


class Refused(IssuerError):
    """The node or the signer refused this tx for a reason retrying will not fix by itself."""


def _issue_tx(qty: int, sequence: int) -> IssueTx:
    """The unsigned Issue; numbers no Issue can carry (a node-reported sequence that is negative
    or leaves no int64 after it) are a refusal with a clear message, not a crash of the step."""
    try:
        return IssueTx(qty=qty, sequence=sequence)
    except IssueTxError as exc:
        raise Refused(f"cannot build the Issue tx: {exc}") from None


def _unsigned(issue: IssueRow) -> IssueTx:
    """The issue's tx without signatures: its qty and sequence fix its hash."""
    assert issue.sequence is not None
    return _issue_tx(issue.qty_napu, issue.sequence)


@dataclass(frozen=True)
class EngineConfig:
    mode: str
    poll_s: float
    settle_ms: int
    max_window_ms: int
    sign_timeout_s: float
    approval_alert_s: float
    max_refusals: int = 5
    lookback_ms: int = 0


class IssuerEngine:
    def __init__(
        self,
        *,
        store: IssueStore,
        lease: Lease,
        bitmart: BitmartClient | None,
        node: NdauNodeClient,
        hub: SignerHub,
        clock: Clock,
        bus: EventBus,
        config: EngineConfig,
        crash: CrashHook | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.bitmart = bitmart
        self.node = node
        self.hub = hub
        self.clock = clock
        self.bus = bus
        self.config = config
        self.crash = crash or CrashHook(None)
        self.wake = asyncio.Event()
        # What the status view shows; never secrets.
        self.last_poll_at: float | None = None
        self.last_poll_ok_at: float | None = None
        self.last_poll_error: str | None = None
        self.polls = 0
        self.rfe: NdauAccount | None = None
        self.supply: NdauSupply | None = None
        self.chain_checked_at: float | None = None
        self.node_error: str | None = None
        self.blocked: str | None = None
        self.pipeline_error: str | None = None
        self._next_poll = 0.0
        self._retry_at: dict[int, float] = {}
        self._failures: dict[int, int] = {}  # every failure in a row: sets the backoff
        self._refusals: dict[int, int] = {}  # refusals only: max_refusals fails the issue
        # tx hash -> when a reading first found it absent with its sequence used. In memory
        # only: after a restart the engine merely looks twice again before resequencing.
        self._absent_at: dict[str, float] = {}

    # ------------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event) -> None:
        renew = asyncio.create_task(self._renew_loop(stop), name="issuer-lease")
        try:
            while not stop.is_set():
                progressed = False
                self.wake.clear()  # a wake-up during this step is kept for the idle wait
                try:
                    progressed = await self.step()
                except LeaseLost as exc:
                    log.warning("%s", exc)
                except Exception as exc:  # one bad step never ends the issuer
                    log.exception("issuer step failed: %s", type(exc).__name__)
                    self.pipeline_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                if progressed:
                    await asyncio.sleep(0)
                    continue
                await self._idle(stop)
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renew

    async def _idle(self, stop: asyncio.Event) -> None:
        now = self.clock.monotonic()
        waits = [self._next_poll - now, self.config.poll_s]
        waits += [at - now for at in self._retry_at.values()]
        delay = max(0.05, min(waits))
        stopper = asyncio.ensure_future(stop.wait())
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({stopper, waker}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopper, waker):
                task.cancel()

    async def _renew_loop(self, stop: asyncio.Event) -> None:
        interval = max(0.2, self.lease.ttl.total_seconds() / 3)
        while not stop.is_set():
            await asyncio.sleep(interval)
            if self.lease.token is not None:
                try:
                    if not await self.lease.renew():
                        log.warning("issuer lease lost to another holder; issuing stops here")
                        self._publish_status()
                except Exception as exc:
                    log.warning("issuer lease renewal failed: %s", type(exc).__name__)

    async def step(self) -> bool:
        """One round: lease, chain view, poll when due, one pipeline move. True if it moved."""
        if not self.lease.held:
            if not await self.lease.acquire():
                self.blocked = "another issuer holds the lease"
                await self._refresh_chain(min_age_s=self.config.poll_s)
                return False
            log.info("issuer lease acquired (token %s)", self.lease.token)
            self._publish_status()
        self.blocked = None
        await self._refresh_chain(min_age_s=self.config.poll_s)
        polled = False
        if self.clock.monotonic() >= self._next_poll:
            polled = await self._poll_safely()
        moved = await self._advance_safely()
        await self._alerts()
        return polled or moved

    # ------------------------------------------------------------------ Bitmart

    async def _poll_safely(self) -> bool:
        """Poll; a failed poll is recorded and retried next interval, and never keeps this step
        from moving the pipeline or raising alerts (the batch and cursor were not written)."""
        try:
            return await self.poll()
        except LeaseLost:
            raise
        except IssuerError as exc:
            log.warning("Bitmart poll failed: %s", exc)
            self._poll_failed(str(exc))
        except Exception as exc:
            log.exception("Bitmart poll failed unexpectedly")
            self._poll_failed(f"{type(exc).__name__}: {str(exc)[:200]}")
        return False

    def _poll_failed(self, message: str) -> None:
        self.last_poll_error = message
        self._next_poll = self.clock.monotonic() + self.config.poll_s
        self._publish_status()

    async def poll(self) -> bool:
        """Turn the next settled window of Bitmart sells into one issue (or none)."""
        self._next_poll = self.clock.monotonic() + self.config.poll_s
        if self.bitmart is None:
            return False
        cursor = await self.store.cursor()
        if cursor is None:
            return False
        now_ms = int(self.clock.time() * 1000)
        settled = now_ms - self.config.settle_ms
        end = min(settled, cursor.cursor_ms + self.config.max_window_ms)
        if end <= cursor.cursor_ms:
            return False
        self.last_poll_at = self.clock.time()
        self.polls += 1
        # Re-read a margin before the cursor (never before the starting point): a sale Bitmart
        # lists late is caught here, and one already recorded is skipped by its trade id.
        scan_from = max(cursor.started_from_ms, cursor.cursor_ms - self.config.lookback_ms)
        trades = await self.bitmart.fetch_sells(scan_from, end)
        napu = [trade.napu() for trade in trades]  # a fractional napu refuses the batch whole
        self.crash("trades_fetched")
        issue = await self.store.record_batch(
            self.lease, Batch(cursor.cursor_ms, end, trades, napu), self.config.mode
        )
        self.crash("detected_saved")
        recovered = self.last_poll_error is not None
        self.last_poll_ok_at = self.clock.time()
        self.last_poll_error = None
        if issue is not None:
            log.info("issue %s detected: %s trades, %s napu", issue.id, len(trades), issue.qty_napu)
        caught_up = end >= settled
        if not caught_up:
            self._next_poll = 0.0  # more history to turn into issues: go on at once
        if recovered or issue is not None:
            self._publish_status()
        return issue is not None or not caught_up

    # ------------------------------------------------------------------ pipeline

    async def _advance_safely(self) -> bool:
        try:
            self.pipeline_error = None
            return await self.advance()
        except LeaseLost:
            raise
        except StaleState as exc:  # an operator (or another step) moved it first: re-read
            log.info("issuer pipeline: %s; re-reading", exc)
            return True
        except IssuerError as exc:
            self.pipeline_error = str(exc)
            log.warning("issuer pipeline: %s", exc)
            return False

    async def advance(self) -> bool:
        """Move the pipeline one step: routing, then the in-flight issue, then signing."""
        detected = await self.store.oldest([S.DETECTED])
        if detected is not None:
            await self._route(detected)
            return True
        issue = await self.store.in_flight()
        if issue is not None:
            if issue.state == S.FAILED:
                self.blocked = (
                    f"issue {issue.id} failed holding sequence {issue.sequence}; an operator "
                    "must retry it before another issue is signed"
                )
                return False
            if not self._due(issue.id):
                return False
            return await self._guard(issue, self._drive(issue))
        approved = await self.store.oldest([S.APPROVED])
        if approved is not None and self._due(approved.id):
            return await self._guard(approved, self._start_signing(approved))
        return False

    def retry_now(self, issue_id: int | None = None) -> None:
        """Something changed (a signer connected, a decision was made): stop backing off. An
        operator retrying `issue_id` also clears its counts: it gets `max_refusals` anew."""
        self._retry_at.clear()
        if issue_id is not None:
            self._failures.pop(issue_id, None)
            self._refusals.pop(issue_id, None)
        self.wake.set()

    def _due(self, issue_id: int) -> bool:
        return self.clock.monotonic() >= self._retry_at.get(issue_id, 0.0)

    async def _guard(self, issue: IssueRow, work: Any) -> bool:
        """Run one step on `issue`; on failure record it on the issue and back off."""
        try:
            await work
        except (LeaseLost, StaleState):
            raise
        except (IssuerError, NdauNodeError) as exc:
            failures = self._failures.get(issue.id, 0) + 1
            self._failures[issue.id] = failures
            delay = exponential(failures, base_s=0.5, cap_s=MAX_BACKOFF_S)
            self._retry_at[issue.id] = self.clock.monotonic() + delay
            row = await self.store.note_error(self.lease, issue.id, str(exc))
            log.warning("issue %s: %s (retry in %.1fs)", issue.id, exc, delay)
            if isinstance(exc, Refused) and row is not None:
                # Only refusals count: a signer offline or a timeout says nothing about the tx.
                refusals = self._refusals.get(issue.id, 0) + 1
                self._refusals[issue.id] = refusals
                if refusals >= self.config.max_refusals and row.state in (
                    S.SIGNING,
                    S.SIGNED,
                    S.SUBMITTED,
                ):
                    await self.store.transition(
                        self.lease, issue.id, [row.state], S.FAILED, last_error=str(exc)[:500]
                    )
                    self._alert("issue_failed", row, str(exc))
            return False
        self._failures.pop(issue.id, None)
        self._refusals.pop(issue.id, None)
        self._retry_at.pop(issue.id, None)
        return True

    async def _route(self, issue: IssueRow) -> None:
        if issue.mode == "auto":
            actor = "issuer (auto mode)"
            await self.store.transition(
                self.lease,
                issue.id,
                [S.DETECTED],
                S.APPROVED,
                actor=actor,
                decided_by=actor,
                decided_at=self.clock.now(),
                decision_reason="auto mode: issued without manual approval",
            )
            self.crash("approved_saved")
        else:
            row = await self.store.transition(
                self.lease, issue.id, [S.DETECTED], S.AWAITING_APPROVAL
            )
            self.bus.emit("approval.pending", issue_out(row))

    async def _start_signing(self, issue: IssueRow) -> None:
        self._check_lease()
        rfe = await self._rfe()
        landed = await self.store.last_landed(rfe.address)
        if landed is not None and landed.sequence is not None and rfe.sequence < landed.sequence:
            # Signing after a stale reading could rebuild a landed Issue exactly (same qty,
            # same sequence), and that tx "found on the chain" would confirm this sale unissued.
            raise IssuerError(
                f"the ndau node reports the RFE account at sequence {rfe.sequence}, behind "
                f"issue {landed.id}'s confirmed sequence {landed.sequence}: a node behind the "
                "chain; waiting for it to catch up before signing"
            )
        supply = await self._supply()
        if supply.total_issued_napu + issue.qty_napu > supply.total_released_napu:
            raise IssuerError(
                f"not enough RFE'd ndau: {supply.issuable_napu} napu issuable, "
                f"{issue.qty_napu} needed"
            )
        tx = _issue_tx(issue.qty_napu, rfe.sequence + 1)
        row = await self.store.transition(
            self.lease,
            issue.id,
            [S.APPROVED],
            S.SIGNING,
            sequence=tx.sequence,
            tx_hash=tx.tx_hash(),
            rfe_address=rfe.address,
            signed_tx=None,
            signing_at=self.clock.now(),
            last_error=None,
        )
        self.crash("signing_saved")
        await self._sign(row, rfe)

    async def _drive(self, issue: IssueRow) -> None:
        if issue.state == S.SIGNING:
            await self._sign(issue)
        elif issue.state in (S.SIGNED, S.SUBMITTED):
            await self._submit(issue)

    async def _sign(self, issue: IssueRow, rfe: NdauAccount | None = None) -> None:
        tx = _unsigned(issue)
        if rfe is None:
            # Resuming: the same qty and sequence give the same tx; is it still alive?
            rfe = await self._rfe()
            verdict = await self._verdict(issue, rfe)
            if verdict == "landed":
                await self._confirm(issue)
                return
            if verdict == "dead":
                await self._resequence(issue, rfe)
                return
        self._check_lease()
        if not self.hub.connected:
            raise SignerUnavailable("no signing service is connected")
        try:
            signed_by = await self.hub.sign(
                tx,
                rfe.validation_keys,
                timeout_s=self.config.sign_timeout_s,
                context={"issue_id": issue.id, "trades": issue.trade_count},
            )
        except SignerRefused as exc:
            raise Refused(str(exc)) from None
        self.crash("signatures_received")
        signable = tx.signable_bytes()
        valid = {key.to_text() for key in rfe.validation_keys}
        for item in signed_by:
            if item.key.to_text() not in valid or not verify(item.key, signable, item.signature):
                raise Refused(
                    f"signature from {item.key.to_text()[:16]}… does not verify against the "
                    "RFE account's validation keys"
                )
            try:
                tx = tx.with_signature(item.signature)
            except IssueTxError as exc:  # e.g. the same signature twice: a signer bug
                raise Refused(f"the signing service's signatures are unusable: {exc}") from None
        row = await self.store.transition(
            self.lease,
            issue.id,
            [S.SIGNING],
            S.SIGNED,
            signed_tx=json.dumps(tx.to_json()),
            signed_at=self.clock.now(),
            last_error=None,
        )
        self.crash("signed_saved")
        await self._submit(row)

    async def _submit(self, issue: IssueRow) -> None:
        assert issue.signed_tx is not None and issue.sequence is not None
        tx = IssueTx.from_json(json.loads(issue.signed_tx))
        if tx.tx_hash() != issue.tx_hash:
            raise Refused(f"stored tx of issue {issue.id} does not match its hash")
        row = issue
        if issue.state == S.SIGNED:
            self._check_lease()
            pre = await self.node.prevalidate(tx)
            if pre.already_committed:
                await self._confirm(issue)
                return
            if not pre.accepted:
                await self._refused(issue, f"prevalidate refused: {pre.message}")
                return
            supply = await self._supply()
            if supply.total_issued_napu + tx.qty > supply.total_released_napu:
                raise IssuerError(
                    f"not enough RFE'd ndau: {supply.issuable_napu} napu issuable, {tx.qty} needed"
                )
            row = await self.store.transition(
                self.lease, issue.id, [S.SIGNED], S.SUBMITTED, submitted_at=self.clock.now()
            )
            self.crash("submitted_saved")
        self._check_lease()
        outcome = await self.node.submit(tx)
        if not outcome.accepted:
            await self._refused(row, f"submit refused: {outcome.message}")
            return
        self.crash("submit_sent")
        await self._confirm(row)

    async def _refused(self, issue: IssueRow, message: str) -> None:
        """The node said no: the tx may have landed already, be dead, or be wrong."""
        verdict = await self._verdict(issue, await self._rfe())
        if verdict == "landed":
            await self._confirm(issue)
        elif verdict == "dead":
            await self._resequence(issue, self.rfe)
        else:
            raise Refused(message)

    async def _confirm(self, issue: IssueRow) -> None:
        assert issue.tx_hash is not None
        owner = await self.store.landed_with(issue.tx_hash, issue.id)
        if owner is not None:
            # The same qty at the sequence another issue landed: that tx is the other sale's and
            # cannot land twice, so this one was never issued.
            await self._resequence(issue, self.rfe, taken_by=owner.id)
            return
        detail = await self.node.transaction(_unsigned(issue))
        if detail is None:
            raise NdauNodeError(f"tx {issue.tx_hash} accepted but not found on the chain yet")
        self._absent_at.pop(detail.tx_hash, None)
        await self.store.transition(
            self.lease,
            issue.id,
            [S.SIGNING, S.SIGNED, S.SUBMITTED],
            S.CONFIRMED,
            block_height=detail.block_height,
            confirmed_at=self.clock.now(),
            last_error=None,
        )
        self.crash("confirmed_saved")
        log.info("issue %s confirmed at height %s", issue.id, detail.block_height)
        self.chain_checked_at = None  # the sequence moved on: refresh the view soon

    async def _verdict(self, issue: IssueRow, rfe: NdauAccount) -> Verdict:
        """landed: the chain has our hash. dead: our sequence was consumed by another tx, so ours
        can never land. open: it may still land (or never was sent)."""
        tx = _unsigned(issue)
        # The sequence was read (in `rfe`) before looking for the hash: if it had already passed
        # ours and the hash is still absent now, our tx can never be committed any more.
        if await self.node.transaction(tx) is not None:
            return "landed"
        if rfe.sequence < tx.sequence:
            return "open"
        # One reading is not proof: the node may index a tx a moment after committing it.
        tx_hash = tx.tx_hash()
        now = self.clock.monotonic()
        first = self._absent_at.setdefault(tx_hash, now)
        if now - first < self.config.poll_s:
            raise IssuerError(
                f"tx {tx_hash} is not on the chain although sequence {tx.sequence} is used; "
                "looking again before signing with a new sequence"
            )
        del self._absent_at[tx_hash]
        return "dead"

    async def _resequence(
        self, issue: IssueRow, rfe: NdauAccount | None, *, taken_by: int | None = None
    ) -> None:
        seen = rfe.sequence if rfe is not None else "?"
        if taken_by is not None:
            reason = (
                f"tx {issue.tx_hash} (sequence {issue.sequence}) is the one issue {taken_by} "
                "landed with: it cannot land again for this sale; signing again with a new "
                "sequence"
            )
        else:
            reason = (
                f"sequence {issue.sequence} was used by another transaction (account sequence "
                f"{seen}) and tx {issue.tx_hash} is not on the chain: it can never land; "
                "signing again with a new sequence"
            )
        await self.store.transition(
            self.lease,
            issue.id,
            [issue.state],
            S.APPROVED,
            sequence=None,
            tx_hash=None,
            signed_tx=None,
            resequenced=issue.resequenced + 1,
            last_error=reason,
            audit_detail={"old_sequence": issue.sequence, "old_tx_hash": issue.tx_hash},
        )
        log.warning("issue %s: %s", issue.id, reason)

    def _check_lease(self) -> None:
        if not self.lease.held:
            raise LeaseLost("the issuer lease is not held; not taking external steps")

    # ------------------------------------------------------------------ chain view

    async def _rfe(self) -> NdauAccount:
        try:
            self.rfe = await self.node.rfe_account()
        except NdauNodeError as exc:
            self.node_error = str(exc)
            raise
        self.node_error = None
        self.chain_checked_at = self.clock.time()
        return self.rfe

    async def _supply(self) -> NdauSupply:
        try:
            self.supply = await self.node.supply()
        except NdauNodeError as exc:
            self.node_error = str(exc)
            raise
        self.node_error = None
        return self.supply

    async def _refresh_chain(self, min_age_s: float) -> None:
        if (
            self.chain_checked_at is not None
            and self.clock.time() - self.chain_checked_at < min_age_s
        ):
            return
        with contextlib.suppress(NdauNodeError):
            await self._rfe()
            await self._supply()

    async def refresh_chain(self) -> None:
        await self._refresh_chain(0)

    # ------------------------------------------------------------------ alerts & status

    async def _alerts(self) -> None:
        cutoff = self.clock.now() - timedelta(seconds=self.config.approval_alert_s)
        for row in await self.store.overdue_approvals(cutoff):
            self._alert(
                "approval_overdue",
                row,
                f"issue {row.id} has awaited approval for over "
                f"{self.config.approval_alert_s / 60:g} minutes",
            )
            await self.store.mark_alerted(row.id)

    def _alert(self, kind: str, row: IssueRow, message: str) -> None:
        log.warning("issuer alert (%s): %s", kind, message)
        self.bus.emit("issue.alert", IssueAlert(kind=kind, message=message, issue=issue_out(row)))

    def _publish_status(self) -> None:
        self.bus.emit("issuer.status", self.snapshot())

    def snapshot(self) -> IssuerRunState:
        return IssuerRunState(
            lease_held=self.lease.held,
            lease_holder=self.lease.holder,
            blocked=self.blocked,
            last_poll_at=self.last_poll_at,
            last_poll_ok_at=self.last_poll_ok_at,
            last_poll_error=self.last_poll_error,
            polls=self.polls,
            pipeline_error=self.pipeline_error,
            signer_connected=self.hub.connected,
        )
