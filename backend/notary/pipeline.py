"""The notarization pipeline: each step persisted with its state, so a crash resumes where it
stopped.

Steps, in order (each commits its result and its state before the next begins):

1. ``canonical`` — build the report and store its canonical JSON (RFC 8785) bytes;
2. ``hash`` — Keccak-256 of those bytes;
3. ``sign`` — EIP-191 ``personal_sign`` of the hash with the notary key;
4. ``pin`` — Pinata ``pinJSONToIPFS`` when a JWT is set and IPFS is not disabled, else the local
   content-addressed store (the CID ``ipfs add`` would print);
5. ``anchor`` — a transaction carrying the hash, signed and *recorded before it is sent* (so a
   crash never sends a second one), then broadcast and mined (receipt, block);
6. ``confirm`` — the anchor's block reaches the configured number of confirmations.

A step that fails for a passing reason (network, chain, timeout) is retried later by the service,
up to ``notary_max_attempts``; one that can never succeed fails the notarization at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from backend.core.audit import record_audit
from backend.core.bus import EventBus
from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.http import ProviderError
from backend.notary.anchor import AnchorChain, ChainError
from backend.notary.canonical import CanonicalJSONError, canonical_json
from backend.notary.ipfs_store import LocalIpfsStore
from backend.notary.keccak import hash_from_hex, keccak_hex
from backend.notary.models import NotarizationRow
from backend.notary.pinata import PinataClient, PinataError
from backend.notary.report import build_report, iso
from backend.notary.signing import NotaryKey
from hashinsight_contract.notary import NotarizationOut, StepOut

log = logging.getLogger("hashinsight.notary")

STEPS: tuple[str, ...] = ("canonical", "hash", "sign", "pin", "anchor", "confirm")
CHANNEL = "notarizations"
EVENT = "notary.update"
TRANSIENT = (ChainError, PinataError, ProviderError, TimeoutError, OSError)


class PermanentStepError(Exception):
    """A step that cannot succeed however often it is retried."""


def new_steps() -> dict[str, dict[str, Any]]:
    return {name: {"state": "pending", "at": None, "detail": None, "error": None} for name in STEPS}


def notarization_out(row: NotarizationRow) -> NotarizationOut:
    """The public shape of a notarization (API, bus, console); never the document body."""
    steps = json.loads(row.steps)
    return NotarizationOut(
        id=row.id,
        created_at=iso(row.created_at),
        updated_at=iso(row.updated_at),
        trigger=row.trigger,
        requested_by=row.requested_by,
        period_start=iso(row.period_start),
        period_end=iso(row.period_end),
        status=row.status,
        step=next((n for n in STEPS if steps[n]["state"] != "done"), None),
        steps=[StepOut(name=name, **steps[name]) for name in STEPS],
        attempts=row.attempts,
        error=row.error,
        hash=row.hash_hex,
        signature=row.signature,
        signer=row.signer,
        cid=row.cid,
        pin_provider=row.pin_provider,
        pin_size=row.pin_size,
        chain=row.chain,
        chain_id=row.chain_id,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        block_hash=row.block_hash,
        document_size=len(row.document.encode()) if row.document else None,
    )


StepHook = Callable[[int, str], Awaitable[None]]


class NotaryPipeline:
    """Runs (and resumes) notarizations; one run per notarization at a time."""

    def __init__(
        self,
        *,
        db: Database,
        bus: EventBus,
        clock: Clock,
        key: NotaryKey,
        store: LocalIpfsStore,
        pinata: PinataClient | None,
        chain: AnchorChain,
        services: Callable[[], Mapping[str, object]],
        confirmations: int,
        receipt_timeout_s: float,
        max_attempts: int,
        audit_rows_max: int,
        after_step: StepHook | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.key = key
        self.store = store
        self.pinata = pinata
        self.chain = chain
        self.services = services
        self.confirmations = confirmations
        self.receipt_timeout_s = receipt_timeout_s
        self.max_attempts = max_attempts
        self.audit_rows_max = audit_rows_max
        self.after_step = after_step
        self._locks: dict[int, asyncio.Lock] = {}

    # --- creating and reading -------------------------------------------------------------

    async def create(
        self, *, trigger: str, requested_by: str, period_start: datetime, period_end: datetime
    ) -> NotarizationOut:
        now = self.clock.now()
        async with self.db.session() as session:
            row = NotarizationRow(
                created_at=now,
                updated_at=now,
                trigger=trigger,
                requested_by=requested_by,
                period_start=period_start,
                period_end=period_end,
                status="running",
                steps=json.dumps(new_steps()),
                attempts=0,
            )
            session.add(row)
            await session.flush()
            record_audit(
                session,
                actor=requested_by,
                action="notary.request",
                target=f"notarization:{row.id}",
                detail={"trigger": trigger, "period": [iso(period_start), iso(period_end)]},
            )
            view = notarization_out(row)
        self._publish(view)
        return view

    def _publish(self, view: NotarizationOut) -> None:
        """The bus carries the same shape as the API, as plain JSON."""
        self.bus.emit(EVENT, view)

    async def get_row(self, notarization_id: int) -> NotarizationRow | None:
        async with self.db.session() as session:
            return await session.get(NotarizationRow, notarization_id)

    async def unfinished(self) -> list[int]:
        async with self.db.session() as session:
            ids = await session.scalars(
                select(NotarizationRow.id)
                .where(NotarizationRow.status == "running")
                .order_by(NotarizationRow.id)
            )
            return list(ids)

    # --- running --------------------------------------------------------------------------

    async def run(self, notarization_id: int) -> NotarizationOut | None:
        """Run the remaining steps; returns the final view (or None for an unknown id)."""
        async with self._locks.setdefault(notarization_id, asyncio.Lock()):
            return await self._run(notarization_id)

    async def _run(self, notarization_id: int) -> NotarizationOut | None:
        row = await self.get_row(notarization_id)
        if row is None:
            return None
        if row.status != "running":
            return notarization_out(row)
        steps = json.loads(row.steps)
        for name in STEPS:
            if steps[name]["state"] == "done":
                continue
            await self._mark(notarization_id, name, "running", None)
            try:
                detail, fields = await getattr(self, f"_step_{name}")(notarization_id)
            except PermanentStepError as exc:
                return await self._fail(notarization_id, name, str(exc), permanent=True)
            except TRANSIENT as exc:
                return await self._fail(notarization_id, name, _describe(exc), permanent=False)
            except CanonicalJSONError as exc:
                return await self._fail(notarization_id, name, str(exc), permanent=True)
            await self._mark(notarization_id, name, "done", detail, **fields)
            if self.after_step is not None:
                await self.after_step(notarization_id, name)
        return await self._complete(notarization_id)

    async def _mark(
        self, notarization_id: int, name: str, state: str, detail: str | None, **fields: Any
    ) -> NotarizationOut:
        async with self.db.session() as session:
            row = await session.get(NotarizationRow, notarization_id)
            assert row is not None
            steps = json.loads(row.steps)
            steps[name] = {
                "state": state,
                "at": iso(self.clock.now()),
                "detail": detail if state == "done" else steps[name].get("detail"),
                "error": None if state == "done" else steps[name].get("error"),
            }
            row.steps = json.dumps(steps)
            row.updated_at = self.clock.now()
            for field, value in fields.items():
                setattr(row, field, value)
            if name == "anchor" and state == "done":
                record_audit(
                    session,
                    actor="notary",
                    action="notary.anchored",
                    target=f"notarization:{notarization_id}",
                    detail={
                        "tx_hash": row.tx_hash,
                        "block": row.block_number,
                        "hash": row.hash_hex,
                    },
                )
            view = notarization_out(row)
        self._publish(view)
        return view

    async def _fail(
        self, notarization_id: int, name: str, error: str, *, permanent: bool
    ) -> NotarizationOut:
        async with self.db.session() as session:
            row = await session.get(NotarizationRow, notarization_id)
            assert row is not None
            steps = json.loads(row.steps)
            row.attempts += 1
            final = permanent or row.attempts >= self.max_attempts
            steps[name] = {
                "state": "failed" if final else "retrying",
                "at": iso(self.clock.now()),
                "detail": steps[name].get("detail"),
                "error": error[:500],
            }
            row.steps = json.dumps(steps)
            row.error = f"{name}: {error}"[:500]
            row.updated_at = self.clock.now()
            if final:
                row.status = "failed"
                record_audit(
                    session,
                    actor="notary",
                    action="notary.failed",
                    target=f"notarization:{notarization_id}",
                    detail={"step": name, "error": error[:300], "attempts": row.attempts},
                )
            view = notarization_out(row)
        log.warning("notarization %s: step %s failed: %s", notarization_id, name, error)
        self._publish(view)
        return view

    async def _complete(self, notarization_id: int) -> NotarizationOut:
        async with self.db.session() as session:
            row = await session.get(NotarizationRow, notarization_id)
            assert row is not None
            row.status = "completed"
            row.error = None
            row.updated_at = self.clock.now()
            record_audit(
                session,
                actor="notary",
                action="notary.completed",
                target=f"notarization:{notarization_id}",
                detail={"hash": row.hash_hex, "cid": row.cid, "tx_hash": row.tx_hash},
            )
            view = notarization_out(row)
        self._publish(view)
        return view

    # --- the steps: each returns (detail, fields to persist) -------------------------------

    async def _row(self, notarization_id: int) -> NotarizationRow:
        row = await self.get_row(notarization_id)
        assert row is not None
        return row

    async def _step_canonical(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        report = await build_report(
            db=self.db,
            services=self.services(),
            notarization_id=row.id,
            trigger=row.trigger,
            period_start=row.period_start,
            period_end=row.period_end,
            generated_at=self.clock.now(),
            signer=self.key.address,
            audit_rows_max=self.audit_rows_max,
        )
        document = await asyncio.to_thread(canonical_json, report)
        sections = report["sections"]
        present = sorted(name for name, section in sections.items() if section.get("available"))
        detail = (
            f"{len(document)} bytes; sections: {', '.join(present) or 'none'}; "
            f"{report['audit']['count']} audit rows"
        )
        return detail, {"document": document.decode("utf-8")}

    async def _step_hash(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        if row.document is None:
            raise PermanentStepError("no document to hash")
        digest = await asyncio.to_thread(keccak_hex, row.document.encode("utf-8"))
        return f"keccak256 {digest}", {"hash_hex": digest}

    async def _step_sign(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        assert row.document is not None and row.hash_hex is not None
        declared = json.loads(row.document).get("notary", {}).get("signer")
        if declared != self.key.address:
            raise PermanentStepError(
                f"the report names signer {declared} but the notary key is now "
                f"{self.key.address}; create a new notarization"
            )
        signature = self.key.sign_hash(hash_from_hex(row.hash_hex))
        return f"signed by {self.key.address}", {"signature": signature, "signer": self.key.address}

    async def _step_pin(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        assert row.document is not None
        if self.pinata is not None:
            result = await self.pinata.pin_json(
                json.loads(row.document),
                name=f"hashinsight-notarization-{row.id}.json",
                keyvalues={"notarization": str(row.id), "hash": row.hash_hex or ""},
            )
            note = " (already pinned)" if result.is_duplicate else ""
            return f"pinned on Pinata as {result.cid}{note}", {
                "cid": result.cid,
                "pin_provider": "pinata",
                "pin_size": result.size,
            }
        data = row.document.encode("utf-8")
        cid = await self.store.add(data)
        return f"stored locally as {cid}", {
            "cid": cid,
            "pin_provider": "local",
            "pin_size": len(data),
        }

    async def _step_anchor(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        assert row.hash_hex is not None
        info = await self.chain.info()
        same_chain = row.chain_genesis == info.genesis and row.chain_id == str(info.chain_id)
        tx_hash = row.tx_hash if same_chain else None
        known = tx_hash is not None and await self.chain.transaction(tx_hash) is not None
        if tx_hash is not None and row.anchor_raw_tx and not known:
            try:
                await self.chain.broadcast(row.anchor_raw_tx)
            except ChainError as exc:  # nonce taken or fees moved on: sign a fresh one
                log.info("notarization %s: re-signing anchor (%s)", row.id, exc)
                tx_hash = None
        if tx_hash is None:
            if row.signer != self.key.address:
                # Verification requires the anchor's sender to be the report's signer.
                raise PermanentStepError(
                    f"signed by {row.signer} but the notary key is now {self.key.address}: an "
                    "anchor sent now would never verify; create a new notarization"
                )
            prepared = await self.chain.prepare(self.key, hash_from_hex(row.hash_hex))
            await self._persist_fields(
                notarization_id,
                chain=info.kind,
                chain_id=str(info.chain_id),
                chain_genesis=info.genesis,
                anchor_nonce=prepared.nonce,
                anchor_raw_tx=prepared.raw,
                tx_hash=prepared.tx_hash,
                block_number=None,
                block_hash=None,
            )
            tx_hash = prepared.tx_hash
            await self.chain.broadcast(prepared.raw)
        receipt = await self.chain.wait_receipt(tx_hash, self.receipt_timeout_s)
        if receipt.status != 1:
            raise PermanentStepError(f"anchor transaction {tx_hash} reverted")
        return f"anchored in block {receipt.block_number} of chain {info.chain_id}", {
            "block_number": receipt.block_number,
            "block_hash": receipt.block_hash,
        }

    async def _step_confirm(self, notarization_id: int) -> tuple[str, dict[str, Any]]:
        row = await self._row(notarization_id)
        assert row.block_number is not None
        have = await self.chain.wait_confirmations(
            row.block_number, self.confirmations, self.receipt_timeout_s
        )
        return f"{have} confirmations (wanted {self.confirmations})", {}

    async def _persist_fields(self, notarization_id: int, **fields: Any) -> None:
        async with self.db.session() as session:
            row = await session.get(NotarizationRow, notarization_id)
            assert row is not None
            for field, value in fields.items():
                setattr(row, field, value)
            row.updated_at = self.clock.now()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
