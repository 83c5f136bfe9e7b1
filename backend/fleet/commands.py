"""Commands to miners: validate, queue for approval (semi-auto keys), run, verify, audit.

Every command is a row in ``fleet_commands`` from request to outcome, and every step writes
an audit row in the same transaction. Each miner's firmware has a driver
(``backend/fleet/drivers``): an action its driver does not support is refused before anything
is sent, with the reason. A refusal by the miner (wrong credentials, access denied, command not
supported) is state ``refused`` in plain words; a miner that cannot be reached is ``failed``.
After a command is sent the driver reads the effect back, and the row's ``verification`` says
``verified: ...`` or ``sent, not verified: <why>``. Bulk commands run with bounded concurrency
and give one result per miner, in the order asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.audit import record_audit
from backend.core.clock import Clock
from backend.core.db import Database, in_chunks
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import (
    ACTIONS,
    COMMON_WORK_MODES,
    Capability,
    ControlContext,
    DriverRegistry,
    MinerTarget,
    Outcome,
)
from backend.fleet.drivers.pending import UnidentifiedDriver
from backend.fleet.idempotency import RETENTION, Claim, fingerprint
from backend.fleet.models import FleetCommandRequestRow, FleetCommandRow
from backend.fleet.reboots import RebootSeen
from hashinsight_contract.fleet import CommandOut

if TYPE_CHECKING:
    from backend.auth.service import KeyInfo
    from backend.fleet.poller import MinerState, Poller

COMMANDS = ACTIONS
# params.mode is also a tuning profile's name (LuxOS: "default", "475MHz"); the miner's driver
# checks it against what that miner offers. No separators: it travels in a cgminer parameter.
MODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
POOL_COMMANDS = frozenset({"switchpool", "enablepool", "disablepool", "removepool"})
STATES = ("sent", "succeeded", "failed", "pending_approval", "refused")
MAX_BULK = 10_000
PRUNE_EVERY_S = 60.0
log = logging.getLogger("hashinsight.fleet")
MASK = "********"


class CommandError(Exception):
    """A command request that cannot proceed; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def validate(command: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Clean parameters for ``command``; CommandError(422) says what is missing or wrong."""
    params = dict(params or {})
    if command not in COMMANDS:
        raise CommandError(422, f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    if command in POOL_COMMANDS:
        pool = params.get("pool", params.get("pool_id"))
        if isinstance(pool, bool) or not isinstance(pool, int | str):
            raise CommandError(422, f"{command} needs params.pool (the pool index, 0 = first)")
        try:
            index = int(pool)
        except ValueError:
            raise CommandError(422, f"params.pool {pool!r} is not a number") from None
        if not 0 <= index < 100:
            raise CommandError(422, "params.pool must be between 0 and 99")
        return {"pool": index, **_pool_identity(command, params)}
    if command == "addpool":
        url, user = params.get("url"), params.get("user")
        password = params.get("password", "x")
        for name, value in (("url", url), ("user", user), ("password", password)):
            if not isinstance(value, str) or not value.strip() or len(value) > 255:
                raise CommandError(422, f"addpool needs params.{name} (1-255 characters)")
        if "://" not in str(url):
            raise CommandError(422, "params.url must look like stratum+tcp://host:port")
        return {"url": str(url).strip(), "user": str(user).strip(), "password": password}
    if command == "work_mode":
        mode = params.get("mode")
        if not isinstance(mode, str) or not MODE_NAME.fullmatch(mode):
            raise CommandError(
                422,
                f"work_mode needs params.mode: {' or '.join(COMMON_WORK_MODES)}, or a LuxOS "
                "profile name (1-32 letters, digits, '.', '_', '-'; e.g. default, 475MHz)",
            )
        return {"mode": mode}
    if command == "fault_light":
        on = params.get("on", True)
        if not isinstance(on, bool):
            raise CommandError(422, "params.on must be true (blink) or false (off)")
        return {"on": on}
    return {}


def _pool_identity(command: str, params: dict[str, Any]) -> dict[str, str]:
    """The pool as the requester saw it at that index (``url``, optional ``user``): the driver
    then acts on that pool wherever it is now in the list it indexes. Indexes move (a switch
    reorders a stock Antminer's or a Whatsminer's pools, a removal shifts the rest, a DevFee
    row hides in the list the API shows), so an index alone can hit another pool on a retry or
    a stale list."""
    url, user = params.get("url"), params.get("user")
    if url is None:
        if user is not None:
            raise CommandError(422, f"{command}: params.user needs params.url")
        return {}
    if not isinstance(url, str) or "://" not in url or len(url) > 255:
        raise CommandError(422, "params.url must look like stratum+tcp://host:port")
    found = {"url": url.strip()}
    if user is not None:
        if not isinstance(user, str) or len(user) > 255:
            raise CommandError(422, "params.user must be text of at most 255 characters")
        found["user"] = user.strip()
    return found


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as shown in the API and the audit trail (pool passwords masked)."""
    return {k: (MASK if k == "password" else v) for k, v in params.items()}


class FleetCommands:
    def __init__(
        self,
        db: Database,
        poller: Poller,
        clock: Clock,
        concurrency: int,
        *,
        context: ControlContext | None = None,
        credentials: CredentialStore | None = None,
    ) -> None:
        self.db = db
        self.poller = poller
        self.clock = clock
        self.concurrency = concurrency
        self.context = context or ControlContext()
        if credentials is not None:
            self.context.credentials = credentials
        self.drivers = DriverRegistry(self.context)
        self._recording: set[asyncio.Task[None]] = set()
        self._prune_at = 0.0  # when expired idempotency keys are next deleted
        poller.on_reboots = self._reboots_seen

    # ------------------------------------------------------------------ reboots seen later

    def _reboots_seen(self, seen: list[RebootSeen]) -> None:
        """The poller saw restart commands' windows end: record it off the sweep's path."""
        task = asyncio.create_task(self._record_reboots(seen), name="fleet reboot verification")
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _record_reboots(self, seen: list[RebootSeen]) -> None:
        """A restart's read-back waits seconds; a miner takes minutes to boot. What the poller
        saw later settles the verification: back with a fresh uptime, or not back at all. A
        verified command is never downgraded."""
        changed: list[FleetCommandRow] = []
        try:
            async with self.db.session() as session:
                for item in seen:
                    if not await _set_verification(
                        session, item.command_id, reboot_verification(item), self.clock.now()
                    ):
                        continue  # gone, or verified already: never downgraded
                    row = await session.get(FleetCommandRow, item.command_id)
                    assert row is not None
                    record_audit(
                        session,
                        actor="system",
                        action="fleet.command.verified",
                        target=row.miner_id,
                        detail={"command_id": row.id, "verification": row.verification},
                    )
                    changed.append(row)
        except Exception:  # the sweep goes on; the command keeps its first read-back
            log.exception("fleet: recording %d reboot verification(s) failed", len(seen))
            return
        for row in changed:
            self.poller.bus.emit("command.update", command_out(row))

    # ------------------------------------------------------------------ drivers

    def target(self, miner_id: str) -> MinerTarget:
        """The miner as the drivers see it, from the poller's identification."""
        state: MinerState = self.poller.states[miner_id]
        spec, snap = state.spec, state.snap
        return MinerTarget(
            miner_id=spec.id,
            host=spec.host,
            port=spec.port,
            client=state.client,
            site=spec.site,
            family=state.family,
            firmware=snap.firmware if snap is not None else None,
            model=snap.model if snap is not None else None,
            web_port=spec.web_port,
            grpc_port=spec.grpc_port,
        )

    def capabilities(
        self, miner_id: str, miner: dict[str, Any] | None = None
    ) -> dict[str, Capability]:
        """What this miner's firmware lets us do, with the reason for each action it does not.

        ``miner`` (the API's miner object) identifies the firmware where this process does not
        poll (an API-only instance).
        """
        target = self.target(miner_id)
        if miner is not None and target.firmware is None and target.model is None:
            target.firmware, target.model = miner.get("firmware"), miner.get("model")
        return self.drivers.driver_for(target).capabilities(target)

    # ------------------------------------------------------------------ requests

    async def request(
        self,
        miner_ids: Sequence[str],
        command: str,
        params: dict[str, Any] | None,
        *,
        key: KeyInfo,
        source: str | None = None,
    ) -> list[CommandOut]:
        """Create the command rows; run them now, or leave them for approval (semi_auto)."""
        results, _replayed = await self.request_once(
            miner_ids, command, params, key=key, source=source
        )
        return results

    async def request_once(
        self,
        miner_ids: Sequence[str],
        command: str,
        params: dict[str, Any] | None,
        *,
        key: KeyInfo,
        source: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[list[CommandOut], bool]:
        """``request``, once per ``idempotency_key`` of the requesting key: a request sent
        again gets the commands the first one made, as they are now, and True (replayed)."""
        clean = validate(command, params)
        ids = list(dict.fromkeys(miner_ids))
        if not ids:
            raise CommandError(422, "miner_ids must not be empty")
        if len(ids) > MAX_BULK:
            raise CommandError(422, f"at most {MAX_BULK} miners per request")
        unknown = [i for i in ids if i not in self.poller.states]
        if unknown:
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise CommandError(404, f"unknown miner id: {', '.join(unknown[:5])}{more}")
        claim = None
        if idempotency_key is not None:
            asked = fingerprint(command, public_params(clean), ids)
            claim = Claim(key.key_id, idempotency_key, asked)
            earlier = await self._claimed(claim)
            if earlier is not None:
                return earlier, True
        pending = key.mode == "semi_auto"
        state = "pending_approval" if pending else "sent"
        now = self.clock.now()
        refusals: dict[str, str] = {}
        for miner_id in ids:  # never sent, never queued: the firmware cannot do it
            target = self.target(miner_id)
            driver = self.drivers.driver_for(target)
            if pending and isinstance(driver, UnidentifiedDriver):
                continue  # not polled yet: the approval runs it once the firmware is known
            capability = driver.capabilities(target).get(command)
            if capability is not None and not capability.supported:
                refusals[miner_id] = f"refused: {capability.reason}"
        rows = [
            FleetCommandRow(
                id=f"cmd_{secrets.token_hex(8)}",
                miner_id=miner_id,
                command=command,
                params=json.dumps(clean),
                state="refused" if miner_id in refusals else state,
                result=refusals.get(miner_id),
                requested_by=key.actor,
                requester_key_id=key.key_id,
                source=source,
                created_at=now,
                updated_at=now,
            )
            for miner_id in ids
        ]
        try:
            await self._record_request(rows, command, clean, key, source, claim, now)
        except IntegrityError:
            earlier = await self._claimed(claim) if claim is not None else None
            if earlier is None:
                raise
            return earlier, True  # the same request, sent twice at once: the other one won
        for row in rows:  # consoles show the approval queue from these, at once
            if row.state == "pending_approval":
                self.poller.bus.emit("command.update", command_out(row))
        runnable = [row for row in rows if row.state == "sent"]
        if runnable:
            done = {
                view.command_id: view
                for view in await self._execute(runnable, actor=key.actor, source=source)
            }
            return [done.get(row.id) or command_out(row) for row in rows], False
        return [command_out(row) for row in rows], False

    async def _record_request(
        self,
        rows: list[FleetCommandRow],
        command: str,
        clean: dict[str, Any],
        key: KeyInfo,
        source: str | None,
        claim: Claim | None,
        now: datetime,
    ) -> None:
        """The command rows, their audit and the request's key, in one transaction: a twin
        request with the same key fails here on the key's unique constraint, having made
        nothing."""
        async with self.db.session() as session:
            if claim is not None:
                if self.clock.monotonic() >= self._prune_at:  # at most once a minute: every
                    self._prune_at = self.clock.monotonic() + PRUNE_EVERY_S  # key would contend
                    await session.execute(
                        delete(FleetCommandRequestRow).where(
                            FleetCommandRequestRow.created_at < now - RETENTION
                        )
                    )
                session.add(
                    FleetCommandRequestRow(
                        requester_key_id=claim.requester_key_id,
                        idempotency_key=claim.key,
                        fingerprint=claim.fingerprint,
                        command_ids=json.dumps([row.id for row in rows]),
                        created_at=now,
                    )
                )
                await session.flush()  # the key first: a twin stops before any command row
            session.add_all(rows)
            for row in rows:
                record_audit(
                    session,
                    actor=key.actor,
                    action="fleet.command.request",
                    target=row.miner_id,
                    source=source,
                    detail={
                        "command_id": row.id,
                        "command": command,
                        "params": public_params(clean),
                        "state": row.state,
                        **({"result": row.result} if row.result else {}),
                    },
                )

    async def _claimed(self, claim: Claim) -> list[CommandOut] | None:
        """The commands an earlier request with this key made, as they are now; None when the
        key is new (or older than ``RETENTION``); 422 when it was sent with another request."""
        cutoff = self.clock.now() - RETENTION
        async with self.db.session() as session:
            earlier = (
                await session.scalars(
                    select(FleetCommandRequestRow).where(
                        FleetCommandRequestRow.requester_key_id == claim.requester_key_id,
                        FleetCommandRequestRow.idempotency_key == claim.key,
                        FleetCommandRequestRow.created_at >= cutoff,
                    )
                )
            ).first()
            if earlier is None:
                return None
            if earlier.fingerprint != claim.fingerprint:
                raise CommandError(
                    422,
                    "this Idempotency-Key was sent with another request (command, parameters "
                    "or miners) in the last 24 hours; use a new key for a new request",
                )
            ids: list[str] = json.loads(earlier.command_ids)
            found: dict[str, FleetCommandRow] = {}
            for chunk in in_chunks(ids):
                query = select(FleetCommandRow).where(FleetCommandRow.id.in_(chunk))
                found.update((row.id, row) for row in await session.scalars(query))
        return [command_out(found[i]) for i in ids if i in found]

    async def approve(
        self, command_id: str, *, key: KeyInfo, reason: str, source: str | None = None
    ) -> CommandOut:
        row = await self._decide(command_id, key, "approve", reason, source)
        self.poller.bus.emit("command.update", command_out(row))  # decided
        if row.miner_id not in self.poller.states:
            return await self._finish(
                row, Outcome("failed", "miner no longer in the fleet"), key.actor, source
            )
        return (await self._execute([row], actor=key.actor, source=source))[0]

    async def reject(
        self, command_id: str, *, key: KeyInfo, reason: str, source: str | None = None
    ) -> CommandOut:
        row = await self._decide(command_id, key, "reject", reason, source)
        self.poller.bus.emit("command.update", command_out(row))  # decided
        return command_out(row)

    async def _decide(
        self, command_id: str, key: KeyInfo, verb: str, reason: str, source: str | None
    ) -> FleetCommandRow:
        """Take the pending command for this decision, or refuse with 409.

        One conditional UPDATE claims it: two consoles approving at once (or one approving
        while another rejects) cannot both win, so a command is sent at most once. A read,
        a check in Python and a write would let both pass the check.
        """
        await self._pending(command_id, key, verb)
        now = self.clock.now()
        approved = verb == "approve"
        decision = {
            "state": "sent" if approved else "refused",
            "updated_at": now,
            "decided_by": key.actor,
            "decided_at": now,
            "reason": reason,
            **({} if approved else {"result": f"rejected by {key.actor}: {reason}"}),
        }
        async with self.db.session() as session:
            claimed = await session.execute(
                update(FleetCommandRow)
                .where(
                    FleetCommandRow.id == command_id,
                    FleetCommandRow.state == "pending_approval",
                )
                .values(**decision)
                .execution_options(synchronize_session=False)
            )
            row = await session.get(FleetCommandRow, command_id, populate_existing=True)
            assert row is not None
            if getattr(claimed, "rowcount", 0) != 1:
                raise CommandError(
                    409, f"command {command_id} is {row.state}, not pending approval"
                )
            record_audit(
                session,
                actor=key.actor,
                action=f"fleet.command.{verb}",
                target=row.miner_id,
                source=source,
                detail={"command_id": command_id, "reason": reason},
            )
        return row

    async def _pending(self, command_id: str, key: KeyInfo, verb: str) -> FleetCommandRow:
        async with self.db.session() as session:
            row = await session.get(FleetCommandRow, command_id)
        if row is None:
            raise CommandError(404, f"no command {command_id}")
        if row.state != "pending_approval":
            raise CommandError(409, f"command {command_id} is {row.state}, not pending approval")
        if row.requester_key_id == key.key_id:
            raise CommandError(
                403, f"a command must be {verb}d by a key other than the requester's"
            )
        return row

    async def list(
        self, state: str | None, limit: int, offset: int
    ) -> tuple[list[CommandOut], int]:
        from sqlalchemy import func

        query = select(FleetCommandRow)
        count = select(func.count()).select_from(FleetCommandRow)
        if state is not None:
            query = query.where(FleetCommandRow.state == state)
            count = count.where(FleetCommandRow.state == state)
        query = query.order_by(FleetCommandRow.created_at.desc(), FleetCommandRow.id).limit(limit)
        async with self.db.session() as session:
            total = int(await session.scalar(count) or 0)
            rows = (await session.scalars(query.offset(offset))).all()
        return [command_out(row) for row in rows], total

    # ------------------------------------------------------------------ execution

    async def _execute(
        self, rows: list[FleetCommandRow], *, actor: str, source: str | None
    ) -> list[CommandOut]:
        outcomes: dict[str, Outcome] = {}
        queue = iter(rows)

        async def worker() -> None:
            for row in queue:
                outcomes[row.id] = await self._run_one(row)

        await asyncio.gather(*(worker() for _ in range(max(1, min(self.concurrency, len(rows))))))
        now = self.clock.now()
        async with self.db.session() as session:
            for row in rows:
                outcome = outcomes[row.id]
                stored = await session.get(FleetCommandRow, row.id)
                assert stored is not None
                stored.state, stored.result, stored.updated_at = outcome.state, outcome.result, now
                # The poller may have verified the reboot already (it saw the miner back before
                # the read-back gave up): only a verified read-back replaces a verified one.
                written = await _set_verification(
                    session,
                    row.id,
                    outcome.verification,
                    now,
                    over_verified=_verified(outcome.verification),
                )
                if written:  # no read back for the common case (a bulk is thousands of rows)
                    set_committed_value(stored, "verification", outcome.verification)
                else:  # the poller's "verified" stands: show it
                    await session.refresh(stored, ["verification"])
                record_audit(
                    session,
                    actor=actor,
                    action="fleet.command.result",
                    target=row.miner_id,
                    source=source,
                    detail={
                        "command_id": row.id,
                        "state": outcome.state,
                        "result": outcome.result,
                        "verification": outcome.verification,
                    },
                )
                row.state, row.result = outcome.state, outcome.result
                row.verification = stored.verification
        return [command_out(row) for row in rows]

    async def _run_one(self, row: FleetCommandRow) -> Outcome:
        """Send through the miner's driver, then read the effect back."""
        if row.miner_id not in self.poller.states:
            return Outcome("failed", "miner no longer in the fleet")
        target = self.target(row.miner_id)
        driver = self.drivers.driver_for(target)
        params = json.loads(row.params)
        try:
            outcome = await driver.run(target, row.command, params)
        except Exception as exc:  # a driver bug must not lose the other miners' results
            log.exception("fleet: %s driver failed on %s", driver.name, row.miner_id)
            return Outcome(
                "failed", f"internal error in the {driver.name} driver: {type(exc).__name__}"
            )
        if outcome.state != "succeeded":
            return outcome
        if row.command == "restart":
            self.poller.expect_reboot(row.miner_id, f"a restart by {row.requested_by}", row.id)
        try:
            verification = await driver.verify(target, row.command, params, outcome)
        except Exception as exc:
            log.exception("fleet: verifying %s on %s failed", row.command, row.miner_id)
            verification = f"sent, not verified: read-back failed ({type(exc).__name__})"
        self.poller.request_poll(row.miner_id)
        return replace(outcome, verification=verification)

    async def _finish(
        self, row: FleetCommandRow, outcome: Outcome, actor: str, source: str | None
    ) -> CommandOut:
        async with self.db.session() as session:
            stored = await session.get(FleetCommandRow, row.id)
            assert stored is not None
            stored.state, stored.result, stored.updated_at = (
                outcome.state,
                outcome.result,
                self.clock.now(),
            )
            record_audit(
                session,
                actor=actor,
                action="fleet.command.result",
                target=row.miner_id,
                source=source,
                detail={"command_id": row.id, "state": outcome.state, "result": outcome.result},
            )
            return command_out(stored)


async def _set_verification(
    session: AsyncSession,
    command_id: str,
    verification: str | None,
    now: datetime,
    *,
    over_verified: bool = False,
) -> bool:
    """Write a command's verification in one conditional statement, unless it is verified
    already (``over_verified``: a verified one may replace it): the read-back and the poller
    write it from different tasks, and a read, a check in Python and a write would let the
    later writer undo the other's "verified". True when written."""
    statement = update(FleetCommandRow).where(FleetCommandRow.id == command_id)
    if not over_verified:
        statement = statement.where(
            or_(
                FleetCommandRow.verification.is_(None),
                FleetCommandRow.verification.not_like("verified%"),
            )
        )
    written = await session.execute(
        statement.values(verification=verification, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    return getattr(written, "rowcount", 0) == 1


def _verified(verification: str | None) -> bool:
    return verification is not None and verification.startswith("verified")


def reboot_verification(seen: RebootSeen) -> str:
    """A restart's verification from how its reboot window ended."""
    after = f"{seen.after_s:.0f}s"
    if seen.booted:
        return (
            f"verified: back {after} after the restart with a fresh uptime "
            f"({seen.uptime_s}s), seen by the poller"
        )
    if seen.answered:
        uptime = "" if seen.uptime_s is None else f" ({seen.uptime_s}s)"
        return (
            f"sent, not verified: the miner answered again {after} after the restart without "
            f"an uptime reset{uptime}"
        )
    return f"sent, not verified: not seen back within the {after} reboot window"


def command_out(row: FleetCommandRow) -> CommandOut:
    """A command as the API shows it."""
    try:
        params = json.loads(row.params)
    except ValueError:
        params = {}
    return CommandOut(
        command_id=row.id,
        state=row.state,
        result=row.result,
        miner_id=row.miner_id,
        command=row.command,
        params=public_params(params),
        requested_by=row.requested_by,
        created_at=row.created_at.timestamp(),
        updated_at=row.updated_at.timestamp(),
        decided_by=row.decided_by,
        reason=row.reason,
        verified=None if row.verification is None else _verified(row.verification),
        verification=row.verification,
    )
