"""Commands to miners: validate, queue for approval (semi-auto keys), run, audit.

Every command is a row in ``fleet_commands`` from request to outcome, and every step writes
an audit row in the same transaction. A refusal by the miner (access denied, command not
supported by the firmware) is state ``refused`` with the reason in plain words; a miner that
cannot be reached is ``failed``. Bulk commands run with bounded concurrency and give one
result per miner, in the order asked.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from backend.core.audit import record_audit
from backend.core.clock import Clock
from backend.core.db import Database
from backend.fleet.client import CgminerClient, CgminerConnectionError
from backend.fleet.codec import (
    CODE_ACCESS_DENIED,
    CODE_INVALID_COMMAND,
    CgminerCommandError,
    CgminerError,
)
from backend.fleet.models import FleetCommandRow
from backend.fleet.normalize import FAMILY_WHATSMINER

if TYPE_CHECKING:
    from backend.auth.service import KeyInfo
    from backend.fleet.poller import MinerState, Poller

COMMANDS = (
    "restart",
    "switchpool",
    "addpool",
    "enablepool",
    "disablepool",
    "removepool",
    "sleep",
    "wake",
    "fault_light",
)
POOL_COMMANDS = frozenset({"switchpool", "enablepool", "disablepool", "removepool"})
STATES = ("sent", "succeeded", "failed", "pending_approval", "refused")
MAX_BULK = 10_000
MASK = "********"


class CommandError(Exception):
    """A command request that cannot proceed; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    result: str


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
        return {"pool": index}
    if command == "addpool":
        url, user = params.get("url"), params.get("user")
        password = params.get("password", "x")
        for name, value in (("url", url), ("user", user), ("password", password)):
            if not isinstance(value, str) or not value.strip() or len(value) > 255:
                raise CommandError(422, f"addpool needs params.{name} (1-255 characters)")
        if "://" not in str(url):
            raise CommandError(422, "params.url must look like stratum+tcp://host:port")
        return {"url": str(url).strip(), "user": str(user).strip(), "password": password}
    return {}


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as shown in the API and the audit trail (pool passwords masked)."""
    return {k: (MASK if k == "password" else v) for k, v in params.items()}


async def run_on_miner(
    client: CgminerClient, family: str | None, command: str, params: dict[str, Any]
) -> Outcome:
    """Send one command to one miner and say what happened, in words for an operator."""
    try:
        if command == "restart":
            await client.restart()
            return Outcome("succeeded", "restarting: the miner is offline for a while")
        if command in POOL_COMMANDS:
            status = await client.privileged(command, params["pool"])
        elif command == "addpool":
            status = await client.add_pool(params["url"], params["user"], params["password"])
        elif command in ("sleep", "wake"):
            status = await client.set_sleep(command == "sleep")
        else:  # fault_light: cgminer's ascidentify flashes the LED where the device can
            status = await client.privileged("ascidentify", 0)
    except CgminerCommandError as exc:
        return _refusal(exc, family, command)
    except CgminerConnectionError as exc:
        return Outcome("failed", f"miner unreachable: {exc}")
    except CgminerError as exc:
        return Outcome("failed", str(exc))
    return Outcome("succeeded", status.msg or "ok")


def _refusal(exc: CgminerCommandError, family: str | None, command: str) -> Outcome:
    if exc.code == CODE_ACCESS_DENIED:
        if family == FAMILY_WHATSMINER:
            return Outcome(
                "refused",
                "refused: Whatsminer takes privileged commands only through its encrypted "
                "admin API, which is not supported",
            )
        return Outcome(
            "refused",
            "refused: access denied, the miner's API is read-only for this host "
            "(allow it with --api-allow W:<this host>)",
        )
    if exc.code == CODE_INVALID_COMMAND:
        return Outcome("refused", f"refused: {command} is not supported by this firmware")
    return Outcome("failed", f"the miner answered with an error: {exc}")


class FleetCommands:
    def __init__(self, db: Database, poller: Poller, clock: Clock, concurrency: int) -> None:
        self.db = db
        self.poller = poller
        self.clock = clock
        self.concurrency = concurrency

    # ------------------------------------------------------------------ requests

    async def request(
        self,
        miner_ids: Sequence[str],
        command: str,
        params: dict[str, Any] | None,
        *,
        key: KeyInfo,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Create the command rows; run them now, or leave them for approval (semi_auto)."""
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
        pending = key.mode == "semi_auto"
        state = "pending_approval" if pending else "sent"
        now = self.clock.now()
        rows = [
            FleetCommandRow(
                id=f"cmd_{secrets.token_hex(8)}",
                miner_id=miner_id,
                command=command,
                params=json.dumps(clean),
                state=state,
                requested_by=key.actor,
                requester_key_id=key.key_id,
                source=source,
                created_at=now,
                updated_at=now,
            )
            for miner_id in ids
        ]
        async with self.db.session() as session:
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
                        "state": state,
                    },
                )
        if pending:
            return [command_view(row) for row in rows]
        return await self._execute(rows, actor=key.actor, source=source)

    async def approve(
        self, command_id: str, *, key: KeyInfo, reason: str, source: str | None = None
    ) -> dict[str, Any]:
        row = await self._pending(command_id, key, "approve")
        now = self.clock.now()
        async with self.db.session() as session:
            stored = await session.get(FleetCommandRow, command_id)
            assert stored is not None
            if stored.state != "pending_approval":
                raise CommandError(409, f"command {command_id} is {stored.state}, not pending")
            stored.state, stored.updated_at = "sent", now
            stored.decided_by, stored.decided_at, stored.reason = key.actor, now, reason
            record_audit(
                session,
                actor=key.actor,
                action="fleet.command.approve",
                target=stored.miner_id,
                source=source,
                detail={"command_id": command_id, "reason": reason},
            )
            row = stored
        if row.miner_id not in self.poller.states:
            return await self._finish(
                row, Outcome("failed", "miner no longer in the fleet"), key.actor, source
            )
        return (await self._execute([row], actor=key.actor, source=source))[0]

    async def reject(
        self, command_id: str, *, key: KeyInfo, reason: str, source: str | None = None
    ) -> dict[str, Any]:
        await self._pending(command_id, key, "reject")
        now = self.clock.now()
        async with self.db.session() as session:
            row = await session.get(FleetCommandRow, command_id)
            assert row is not None
            if row.state != "pending_approval":
                raise CommandError(409, f"command {command_id} is {row.state}, not pending")
            row.state, row.updated_at = "refused", now
            row.result = f"rejected by {key.actor}: {reason}"
            row.decided_by, row.decided_at, row.reason = key.actor, now, reason
            record_audit(
                session,
                actor=key.actor,
                action="fleet.command.reject",
                target=row.miner_id,
                source=source,
                detail={"command_id": command_id, "reason": reason},
            )
        return command_view(row)

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
    ) -> tuple[list[dict[str, Any]], int]:
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
        return [command_view(row) for row in rows], total

    # ------------------------------------------------------------------ execution

    async def _execute(
        self, rows: list[FleetCommandRow], *, actor: str, source: str | None
    ) -> list[dict[str, Any]]:
        outcomes: dict[str, Outcome] = {}
        queue = iter(rows)

        async def worker() -> None:
            for row in queue:
                state: MinerState = self.poller.states[row.miner_id]
                outcome = await run_on_miner(
                    state.client, state.family, row.command, json.loads(row.params)
                )
                outcomes[row.id] = outcome
                if outcome.state == "succeeded":
                    self.poller.request_poll(row.miner_id)

        await asyncio.gather(*(worker() for _ in range(max(1, min(self.concurrency, len(rows))))))
        now = self.clock.now()
        async with self.db.session() as session:
            for row in rows:
                outcome = outcomes[row.id]
                stored = await session.get(FleetCommandRow, row.id)
                assert stored is not None
                stored.state, stored.result, stored.updated_at = outcome.state, outcome.result, now
                record_audit(
                    session,
                    actor=actor,
                    action="fleet.command.result",
                    target=row.miner_id,
                    source=source,
                    detail={"command_id": row.id, "state": outcome.state, "result": outcome.result},
                )
                row.state, row.result = outcome.state, outcome.result
        return [command_view(row) for row in rows]

    async def _finish(
        self, row: FleetCommandRow, outcome: Outcome, actor: str, source: str | None
    ) -> dict[str, Any]:
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
            return command_view(stored)


def command_view(row: FleetCommandRow) -> dict[str, Any]:
    """A command as the API shows it (the contract's fields, then the log's extras)."""
    try:
        params = json.loads(row.params)
    except ValueError:
        params = {}
    return {
        "command_id": row.id,
        "state": row.state,
        "result": row.result,
        "miner_id": row.miner_id,
        "command": row.command,
        "params": public_params(params),
        "requested_by": row.requested_by,
        "created_at": row.created_at.timestamp(),
        "updated_at": row.updated_at.timestamp(),
        "decided_by": row.decided_by,
        "reason": row.reason,
    }
