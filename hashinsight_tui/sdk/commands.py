"""Control commands to miners, the command log, and decisions on semi-automatic requests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from hashinsight_contract.fleet import BulkCommandOut, CommandList, CommandOut
from hashinsight_tui.sdk.transport import ApiTransport, ConnectionLost, path_segment

# A command call answers once every miner has run it and its effect has been read back
# (seconds a miner; a bulk runs some at a time): far longer than a read. A call that still
# times out may have run, so callers must not report it as failed.
COMMAND_TIMEOUT_S = 600.0
# A command is sent with an Idempotency-Key, so a call whose answer was lost is sent again
# after these pauses: the backend runs it once and the retry learns what became of it. A retry
# of a request that arrived is answered at once (the commands as they are now), so it waits
# RESEND_TIMEOUT_S, not the first call's COMMAND_TIMEOUT_S.
RESEND_AFTER_S = (1.0, 3.0)
RESEND_TIMEOUT_S = 60.0

_M = TypeVar("_M", bound=BaseModel)


class CommandCalls(ApiTransport):
    async def miner_command(
        self,
        miner_id: str,
        command: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> CommandOut:
        """The command as recorded; state "pending_approval" for semi-auto keys."""
        body = {"command": command, "params": params or {}}
        path = f"/api/v1/miners/{path_segment(miner_id)}/commands"
        return await self._command(CommandOut, path, body, idempotency_key)

    async def bulk_command(
        self,
        miner_ids: Iterable[str],
        command: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> BulkCommandOut:
        """One result per miner, in the order given."""
        body = {"miner_ids": list(miner_ids), "command": command, "params": params or {}}
        path = "/api/v1/miners/commands"
        return await self._command(BulkCommandOut, path, body, idempotency_key)

    async def _command(
        self, model: type[_M], path: str, body: dict[str, Any], idempotency_key: str | None
    ) -> _M:
        """POST a command under one Idempotency-Key (a fresh one unless given), sent again
        while its answer is lost: ConnectionLost only when every attempt went unanswered."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        wait = COMMAND_TIMEOUT_S
        for pause in (*RESEND_AFTER_S, None):
            try:
                return await self._get(
                    model, "POST", path, json=body, headers=headers, timeout=wait
                )
            except ConnectionLost:
                if pause is None:
                    raise
                await asyncio.sleep(pause)
                wait = min(COMMAND_TIMEOUT_S, RESEND_TIMEOUT_S)
        raise AssertionError("unreachable")

    async def fleet_commands(
        self, state: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> CommandList:
        """The command log, newest first; state="pending_approval" is the approval queue."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state is not None:
            params["state"] = state
        return await self._get(CommandList, "GET", "/api/v1/fleet/commands", params=params)

    async def approve_command(self, command_id: str, reason: str) -> CommandOut:
        """Approving runs the command: the answer comes once its effect was read back."""
        path = f"/api/v1/fleet/commands/{path_segment(command_id)}/approve"
        body = {"reason": reason}
        return await self._get(CommandOut, "POST", path, json=body, timeout=COMMAND_TIMEOUT_S)

    async def reject_command(self, command_id: str, reason: str) -> CommandOut:
        path = f"/api/v1/fleet/commands/{path_segment(command_id)}/reject"
        return await self._get(CommandOut, "POST", path, json={"reason": reason})
