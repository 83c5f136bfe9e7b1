"""LuxOS: control through its RPC, with a session where LuxOS asks for one.

``logon`` returns a SessionID that the guarded writes carry as their first parameter
(``rebootdevice|SID``, ``curtail|SID,sleep``, ``ledset|SID,red,blink``, ``profileset|SID,name``);
``logoff|SID`` ends it. The pool commands take no session (Luxor's command table marks them
``logon_required: false``): ``switchpool|1``, ``addpool|url,user,pass``, with no logon at all,
since a session id in front would be read as the pool index or URL. LuxOS allows one session at
a time: when another one is active, logon is refused and ``session`` tells the active id, which
we use without logging it off (it is not ours). A session that expired between logon and write
is renewed once, never in a loop, and the renewed one is the one logged off.

Work modes are LuxOS's tuning profiles: ``profiles`` lists them (``default`` is the board's
nameplate, the others ``<MHz>MHz`` steps), ``profileset|SID,name`` switches the machine and
``config`` names the active one (``Profile``). ``params.mode`` is a profile name, or ``normal``
for ``default``; anything the miner does not list is refused with the list, before logon.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
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
    rpc_pool,
    uptime_before,
    verify_pools,
    verify_reboot,
    wait_until,
    wrong_credentials,
)
from backend.fleet.drivers.cgminer import verify_devices_sleeping

MAX_SESSION_ID = 128
MAX_PROFILES = 256  # LuxOS generates 25 per machine; user profiles add a few
MAX_PROFILE_NAME = 32
NORMAL_PROFILE = "default"  # the nameplate profile: what ``normal`` means on LuxOS
# Luxor's command table (luxos-tooling api.json) marks only these of ours logon_required.
SESSION_COMMANDS = frozenset({"rebootdevice", "curtail", "ledset", "profileset"})
POOL_ACTIONS = frozenset({"switchpool", "enablepool", "disablepool", "removepool", "addpool"})


class LuxError(DriverError):
    """A LuxOS session call that gave no usable answer."""


@dataclass(slots=True)
class Session:
    """The session a write runs in; renewing it replaces ``id`` in place, so the one logged
    off is the one last used (LuxOS holds one session at a time: a stale one locks others out)."""

    id: str
    ours: bool  # logged on by us, so ours to log off


class LuxosDriver(Driver):
    name = "luxos"
    label = "LuxOS"
    kind = "luxos"

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        return dict.fromkeys(ACTIONS, Capability(True))

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        # A pool command logs on to nothing: no stored credential (unreadable, or refused a
        # moment ago) stands in its way; only a guarded write needs one.
        cred = (
            self.unsupported(target, action)
            if action in POOL_ACTIONS
            else await self.admit(target, action, params)
        )
        if isinstance(cred, Outcome):
            return cred
        client = target.client
        try:
            before: dict[str, Any] = {}
            if action == "restart":
                before = await uptime_before(client)
            elif action in ("switchpool", "enablepool", "disablepool", "removepool"):
                pool = await rpc_pool(client, params)
                if isinstance(pool, str):
                    return Outcome("refused", pool)
                before = {"url": pool.url, "user": pool.user} if pool is not None else {}
                if pool is not None:
                    params = {**params, "pool": pool.index}  # its POOL number now
            elif action == "addpool":
                before = {"url": params["url"]}
            elif action == "work_mode":
                profile = await _profile_for(target, params.get("mode"))
                if isinstance(profile, Outcome):
                    return profile
                params = {**params, "profile": profile}
                before = {"profile": profile}
            command, args = _write(action, params)
            ours = True  # a pool command uses no session, so none of anyone else's
            if command in SESSION_COMMANDS:
                assert cred is not None  # admitted above
                status, ours = await self._session_write(target, cred, command, args)
            else:
                status = _checked(command, await client.request(command, ",".join(args)))
        except LuxError as exc:
            return Outcome(exc.state, exc.message)
        except CgminerConnectionError as exc:
            return Outcome("failed", f"miner unreachable: {exc}")
        except CgminerError as exc:
            return Outcome("failed", f"unexpected reply: {exc}")
        note = "" if ours else " (used the LuxOS session already active)"
        said = f"profile {before['profile']} set" if action == "work_mode" else status.msg
        return Outcome("succeeded", f"{said or 'ok'}{note}", None, before)

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

    async def _session_write(
        self, target: MinerTarget, cred: Credential, command: str, args: list[str]
    ) -> tuple[Status, bool]:
        """Log on, write, log off the session in use; the status and whether it was ours."""
        session = Session(*await self._logon(target, cred))
        try:
            return await self._write(target, cred, session, command, args), session.ours
        finally:
            if session.ours and command != "rebootdevice":  # a reboot ends the session itself
                with contextlib.suppress(CgminerError):
                    await target.client.request("logoff", session.id)

    async def _write(
        self,
        target: MinerTarget,
        cred: Credential,
        session: Session,
        command: str,
        args: list[str],
    ) -> Status:
        client = target.client
        reply = await client.request(command, ",".join([session.id, *args]))
        status = parse_status(reply)
        if status.is_error and "session" in status.msg.lower():
            session.id, session.ours = await self._logon(target, cred)  # expired: renew once
            reply = await client.request(command, ",".join([session.id, *args]))
        return _checked(command, reply)

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
        if action == "work_mode":
            return await self._verify_profile(target, str(outcome.before.get("profile")))
        return await super().verify(target, action, params, outcome)

    async def _verify_profile(self, target: MinerTarget, wanted: str) -> str:
        seen: list[str] = []

        async def active() -> str | None:
            current = await active_profile(target)
            seen[:] = [current or "none"]
            return f"verified: profile {wanted} is active" if current == wanted else None

        found = await wait_until(self.context, active, within=None)
        if found:
            return found
        shown = f"still shows profile {seen[0]}" if seen else "could not be read"
        return f"sent, not verified: config {shown}, not {wanted}"


def _checked(command: str, reply: dict[str, Any]) -> Status:
    """The status of a write LuxOS accepted; a refusal raises with the miner's words."""
    status = parse_status(reply)
    if status.is_error:
        if status.code == CODE_INVALID_COMMAND:
            raise LuxError("refused", f"refused: {command} is not supported by this firmware")
        raise LuxError("refused", f"refused: the miner rejected {command}: {status.msg[:200]}")
    return status


def _write(action: str, params: dict[str, Any]) -> tuple[str, list[str]]:
    """The LuxOS command and its arguments (after the session id for ``SESSION_COMMANDS``)."""
    if action == "restart":
        return "rebootdevice", []
    if action in ("sleep", "wake"):
        return "curtail", ["sleep" if action == "sleep" else "wakeup"]
    if action == "fault_light":
        return "ledset", ["red", "blink" if params.get("on", True) else "off"]
    if action == "addpool":
        fields = (params["url"], params["user"], params["password"])
        return "addpool", [escape_parameter(v) for v in fields]
    if action == "work_mode":
        return "profileset", [params["profile"]]
    return action, [str(int(params["pool"]))]


def _session_id(reply: dict[str, Any], command: str) -> str:
    rows = section_rows(reply, "SESSION")
    value = rows[0].get("SessionID") if rows else None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SESSION_ID:
        raise LuxError("failed", f"unexpected reply: {command} gave no SessionID (not LuxOS?)")
    if any(ch in value for ch in ",|\\\x00"):
        raise LuxError("failed", f"unexpected reply: {command} gave a malformed SessionID")
    return value.strip()


async def read_profiles(target: MinerTarget) -> list[str]:
    """The profile names ``profiles`` lists (bounded; names that could not travel back in a
    parameter are left out)."""
    rows = section_rows(await target.client.command("profiles"), "PROFILES")[:MAX_PROFILES]
    names = []
    for row in rows:
        name = row.get("Profile Name")
        ok = isinstance(name, str) and 0 < len(name) <= MAX_PROFILE_NAME
        if ok and not any(ch in name for ch in ",|\\\x00"):
            names.append(name)
    return names


async def active_profile(target: MinerTarget) -> str | None:
    """The profile ``config`` says is in force, or None when it names none."""
    rows = section_rows(await target.client.command("config"), "CONFIG")
    value = rows[0].get("Profile") if rows else None
    return value[:MAX_PROFILE_NAME] if isinstance(value, str) and value else None


async def _profile_for(target: MinerTarget, mode: object) -> str | Outcome:
    """The profile to set for ``params.mode``, or the refusal listing the miner's profiles."""
    names = await read_profiles(target)
    if not names:
        raise LuxError("failed", "unexpected reply: profiles lists no tuning profile")
    wanted = NORMAL_PROFILE if mode == "normal" else mode
    if isinstance(wanted, str) and wanted in names:
        return wanted
    listed = ", ".join(names)
    if len(listed) > 600:
        listed = listed[:600].rsplit(", ", 1)[0] + ", ..."
    return Outcome(
        "refused", f"refused: {target.label} has no LuxOS profile {mode!r}; its profiles: {listed}"
    )
