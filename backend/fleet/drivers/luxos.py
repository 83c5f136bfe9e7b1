"""LuxOS: control through its RPC with a session.

``logon`` returns a SessionID that every write carries as its first parameter
(``rebootdevice|SID``, ``curtail|SID,sleep``, ``switchpool|SID,1``, ``ledset|SID,red,blink``);
``logoff|SID`` ends it. LuxOS allows one session at a time: when another one is active, logon
is refused and ``session`` tells the active id, which we use without logging it off (it is not
ours). A session that expired between logon and write is renewed once, never in a loop.
"""

from __future__ import annotations

import contextlib
from typing import Any

from backend.fleet.client import CgminerConnectionError
from backend.fleet.codec import (
    CODE_INVALID_COMMAND,
    CgminerError,
    Status,
    escape_parameter,
    parse_status,
    section_rows,
)
from backend.fleet.credentials import Credential
from backend.fleet.drivers.base import (
    ACTIONS,
    Capability,
    Driver,
    DriverError,
    MinerTarget,
    Outcome,
    pool_url,
    uptime_before,
    verify_pools,
    verify_reboot,
    wait_until,
    wrong_credentials,
)
from backend.fleet.drivers.cgminer import verify_devices_sleeping

MAX_SESSION_ID = 128


class LuxError(DriverError):
    """A LuxOS session call that gave no usable answer."""


class LuxosDriver(Driver):
    name = "luxos"
    label = "LuxOS"
    kind = "luxos"

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        caps = dict.fromkeys(ACTIONS, Capability(True))
        caps["work_mode"] = Capability(
            False, "not supported yet for LuxOS: tuning profiles (profileset) not implemented"
        )
        return caps

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        cred = await self.admit(target, action)
        if isinstance(cred, Outcome):
            return cred
        client = target.client
        try:
            before: dict[str, Any] = {}
            if action == "restart":
                before = await uptime_before(client)
            elif action in ("switchpool", "enablepool", "disablepool", "removepool"):
                before = {"url": await pool_url(client, params["pool"])}
            elif action == "addpool":
                before = {"url": params["url"]}
            command, args = _write(action, params)
            session_id, ours = await self._logon(target, cred)
            try:
                status = await self._write(target, cred, session_id, command, args)
            finally:
                if ours and action != "restart":  # a rebooting miner ends the session itself
                    with contextlib.suppress(CgminerError):
                        await client.request("logoff", session_id)
        except LuxError as exc:
            return Outcome(exc.state, exc.message)
        except CgminerConnectionError as exc:
            return Outcome("failed", f"miner unreachable: {exc}")
        except CgminerError as exc:
            return Outcome("failed", f"unexpected reply: {exc}")
        note = "" if ours else " (used the LuxOS session already active)"
        return Outcome("succeeded", f"{status.msg or 'ok'}{note}", None, before)

    async def _logon(self, target: MinerTarget, cred: Credential) -> tuple[str, bool]:
        """A session id, and whether it is ours to log off."""
        client = target.client
        param = None
        if not cred.is_default and cred.password is not None:
            param = f"{escape_parameter(cred.username or '')},{escape_parameter(cred.password)}"
        reply = await client.request("logon", param)
        status = parse_status(reply)
        if not status.is_error:
            return _session_id(reply, "logon"), True
        msg = status.msg.lower()
        if status.code == CODE_INVALID_COMMAND:
            raise LuxError(
                "failed", "unexpected reply: the miner does not know LuxOS's logon (not LuxOS?)"
            )
        if "session" in msg and ("active" in msg or "already" in msg or "another" in msg):
            current = await client.request("session")
            if not parse_status(current).is_error:
                with contextlib.suppress(LuxError):
                    return _session_id(current, "session"), False
            raise LuxError(
                "refused",
                f"refused: another LuxOS session is active on {target.label} and cannot be "
                "joined; try again when it ends",
            )
        if any(word in msg for word in ("password", "credential", "denied", "unauthor")):
            self.context.remember_refusal(target, cred)
            raise LuxError("refused", wrong_credentials(target, cred))
        raise LuxError("failed", f"the miner refused logon: {status.msg[:200]}")

    async def _write(
        self,
        target: MinerTarget,
        cred: Credential,
        session_id: str,
        command: str,
        args: list[str],
    ) -> Status:
        client = target.client
        reply = await client.request(command, ",".join([session_id, *args]))
        status = parse_status(reply)
        if status.is_error and "session" in status.msg.lower():
            session_id, _ours = await self._logon(target, cred)  # expired: renew once
            reply = await client.request(command, ",".join([session_id, *args]))
            status = parse_status(reply)
        if status.is_error:
            if status.code == CODE_INVALID_COMMAND:
                raise LuxError("refused", f"refused: {command} is not supported by this firmware")
            raise LuxError("refused", f"refused: the miner rejected {command}: {status.msg[:200]}")
        return status

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        if action in ("switchpool", "enablepool", "disablepool", "removepool", "addpool"):
            return await verify_pools(self.context, target, action, params, outcome)
        if action in ("sleep", "wake"):
            return await verify_devices_sleeping(self, target, action == "sleep")
        if action == "fault_light":
            wanted = "blink" if params.get("on", True) else "off"

            async def led() -> str | None:
                rows = section_rows(await target.client.command("config"), "CONFIG")
                value = str(rows[0].get("RedLed") or "").lower() if rows else ""
                return f"verified: the red LED is {wanted}" if value == wanted else None

            found = await wait_until(self.context, led, within=None)
            return found or "sent, not verified: config does not show the LED change"
        return await super().verify(target, action, params, outcome)


def _write(action: str, params: dict[str, Any]) -> tuple[str, list[str]]:
    """The LuxOS command and its arguments after the session id."""
    if action == "restart":
        return "rebootdevice", []
    if action in ("sleep", "wake"):
        return "curtail", ["sleep" if action == "sleep" else "wakeup"]
    if action == "fault_light":
        return "ledset", ["red", "blink" if params.get("on", True) else "off"]
    if action == "addpool":
        fields = (params["url"], params["user"], params["password"])
        return "addpool", [escape_parameter(v) for v in fields]
    return action, [str(int(params["pool"]))]


def _session_id(reply: dict[str, Any], command: str) -> str:
    rows = section_rows(reply, "SESSION")
    value = rows[0].get("SessionID") if rows else None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SESSION_ID:
        raise LuxError("failed", f"unexpected reply: {command} gave no SessionID (not LuxOS?)")
    if any(ch in value for ch in ",|\\\x00"):
        raise LuxError("failed", f"unexpected reply: {command} gave a malformed SessionID")
    return value.strip()
