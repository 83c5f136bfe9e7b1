"""Whatsminer: control through btminer's encrypted admin API (v2 on 4028, v3 on 4433).

btminer refuses cgminer's RPC writes. API v2 (firmware up to 2023) takes privileged commands on
the RPC port, encrypted under a key derived from the admin password and a token from
``get_token`` (``whatsminer_crypto.py``); API v3 (2024 firmware) listens on 4433 with
length-prefixed JSON and a per-command token. v3 is used when the miner answers
``get.device.info`` there (the port is the stored ``whatsminer`` credential's, else 4433), v2
otherwise; the choice is remembered for a while per miner.

Credentials (kind ``whatsminer``): v2 logs in as admin (factory password ``admin``); v3 as
account ``super`` (factory password ``super``) unless a user other than admin is stored. A wrong
password is reported once as ``refused: wrong credentials ...`` and remembered, never retried;
an expired v2 token is renewed once. Every exchange has a deadline and a bounded reply parsed
as untrusted JSON.

Pools: both APIs replace the three pool slots at once and the miner does not report pool
passwords, so a rewrite keeps the other pools with password ``x`` (said in the result).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from backend.core.untrusted import UntrustedInputError, loads
from backend.fleet.client import CgminerError
from backend.fleet.codec import section_rows
from backend.fleet.credentials import Credential
from backend.fleet.drivers.base import (
    ACTIONS,
    COMMON_WORK_MODES,
    Capability,
    ControlContext,
    Driver,
    DriverError,
    MinerTarget,
    Outcome,
    find_pool,
    pool_name,
    same_pool,
    uptime_before,
    verify_pools,
    verify_reboot,
    wait_until,
    wrong_credentials,
)
from backend.fleet.drivers.whatsminer_crypto import (
    V3_HEADER,
    CryptoError,
    v2_decrypt,
    v2_envelope,
    v2_key,
    v2_sign,
    v3_frame,
    v3_token,
)

V3_PORT = 4433
MAX_REPLY = 64 * 1024  # real replies are a few KiB
POOL_SLOTS = 3
TOKEN_REUSE_S = 20 * 60.0  # btminer keeps a v2 token for 30 minutes
API_MEMORY_S = 600.0  # how long the v2/v3 choice is kept per miner
PROBE_TIMEOUT_S = 2.0  # the v3 probe: a closed port answers at once, a filtered one hangs
MAX_REMEMBERED = 10_000
_TOKEN_FIELD = re.compile(r"^[A-Za-z0-9./]{1,64}$")
NO_ENABLE = "Whatsminer has no per-pool enable switch (reorder with switchpool or remove the pool)"
API_DISABLED = (
    "refused: the miner's API refuses privileged commands (permission denied; enable API "
    "write access with WhatsminerTool or the miner's web page)"
)
V2_MODES = {"normal": "set_normal_power", "low_power": "set_low_power"}
V3_MODES = {"normal": "normal", "low_power": "low"}
MODE_WORDS = {"normal": "normal", "low_power": "low"}
FAULT_LIGHT = {"color": "red", "period": 1000, "duration": 500, "start": 0}
# btminer often goes down on a reboot before answering it (pyasic takes no reply as the norm)
REBOOT_DROPPED = "reboot sent (the miner dropped the connection)"


class WmError(DriverError):
    """A Whatsminer API call that gave no usable answer."""


@dataclass(frozen=True, slots=True)
class _Token:
    key: str
    sign: str
    until: float


class WhatsminerDriver(Driver):
    name = "whatsminer"
    label = "Whatsminer (btminer API)"
    kind = "whatsminer"
    work_modes = COMMON_WORK_MODES

    def __init__(self, context: ControlContext) -> None:
        super().__init__(context)
        self._tokens: dict[tuple[str, str], _Token] = {}  # (miner, credential) -> v2 token
        self._apis: dict[tuple[str, int], tuple[str, float]] = {}  # (miner, v3 port) -> api

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        caps = dict.fromkeys(ACTIONS, Capability(True))
        caps["enablepool"] = caps["disablepool"] = Capability(False, NO_ENABLE)
        return caps

    # ------------------------------------------------------------------ transport

    async def _exchange(
        self,
        host: str,
        port: int,
        payload: bytes,
        *,
        framed: bool,
        deadline_s: float | None = None,
        expect_reply: bool = True,
    ) -> bytes:
        """One request on a fresh connection; the reply bounded in time and size.

        With ``expect_reply`` false (a reboot: btminer may go down before answering), the
        connection closed or reset after the request went out whole raises with ``received``;
        a silence does not, since a hung miner is silent too."""
        limit = self.context.web_timeout_s if deadline_s is None else deadline_s
        where = f"{host}:{port}"
        writer: asyncio.StreamWriter | None = None
        connected = written = False
        try:
            async with asyncio.timeout(limit):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY)
                connected = True
                writer.write(payload)
                await writer.drain()
                written = True
                if framed:
                    (length,) = V3_HEADER.unpack(await reader.readexactly(V3_HEADER.size))
                    if not 0 < length <= MAX_REPLY:
                        raise WmError("failed", f"unexpected reply from {where}: bad frame length")
                    return await reader.readexactly(length)
                raw = bytearray()
                while chunk := await reader.read(16384):
                    raw += chunk
                    if len(raw) > MAX_REPLY:
                        raise WmError("failed", f"reply from {where} too large")
                if not raw:  # closed unanswered: as a v3 frame that never came
                    raise asyncio.IncompleteReadError(b"", None)
                return bytes(raw.rstrip(b"\0"))
        except TimeoutError:
            what = "no reply" if connected else "no connection"
            raise WmError(
                "failed", f"miner did not answer: {what} from {where} within {limit:g}s (timeout)"
            ) from None
        except asyncio.IncompleteReadError:
            raise WmError(
                "failed",
                f"unexpected reply: {where} closed the connection",
                received=not expect_reply,
            ) from None
        except OSError as exc:
            raise WmError(
                "failed",
                f"miner unreachable: {where}: {exc.strerror or exc}",
                received=written and not expect_reply,
            ) from None
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    @staticmethod
    def _object(raw: bytes, where: str) -> dict[str, Any]:
        try:
            data = loads(raw, max_bytes=MAX_REPLY, what="Whatsminer reply")
        except UntrustedInputError as exc:
            raise WmError("failed", f"unexpected reply from {where}: {exc}") from None
        if not isinstance(data, dict):
            raise WmError("failed", f"unexpected reply from {where}: not a JSON object")
        return data

    # ------------------------------------------------------------------ API v2

    async def _v2_plain(self, target: MinerTarget, request: dict[str, Any]) -> dict[str, Any]:
        raw = await self._exchange(
            target.host, target.port, json.dumps(request).encode(), framed=False
        )
        return self._object(raw, f"{target.host}:{target.port}")

    async def _v2_token(self, target: MinerTarget, cred: Credential) -> _Token:
        reply = await self._v2_plain(target, {"cmd": "get_token"})
        msg = reply.get("Msg")
        if isinstance(reply.get("STATUS"), list) or not isinstance(msg, dict):
            code = _code(reply)
            if code == 45 or "permission" in _text(reply):
                raise WmError("refused", API_DISABLED)
            raise WmError(
                "failed",
                "unexpected reply: the miner does not answer Whatsminer's get_token "
                "(not a Whatsminer with API 2.x?)",
            )
        fields = [msg.get(name) for name in ("time", "salt", "newsalt")]
        if not all(isinstance(f, str) and _TOKEN_FIELD.match(f) for f in fields):
            raise WmError("failed", "unexpected reply: get_token gave no usable salt")
        when, salt, newsalt = (str(f) for f in fields)
        key = v2_key(cred.password or "", salt)
        token = _Token(key, v2_sign(key, when, newsalt), time.monotonic() + TOKEN_REUSE_S)
        self._remember(self._tokens, (target.miner_id, cred.fingerprint), token)
        return token

    async def _v2_command(
        self,
        target: MinerTarget,
        cred: Credential,
        command: dict[str, Any],
        *,
        expect_reply: bool = True,
    ) -> dict[str, Any]:
        """An encrypted command; an expired token is renewed once, a wrong key refused."""
        slot = (target.miner_id, cred.fingerprint)
        token = self._tokens.get(slot)
        fresh = token is None or token.until < time.monotonic()
        if fresh:
            token = await self._v2_token(target, cred)
        assert token is not None
        reply = await self._v2_send(target, token, command, expect_reply=expect_reply)
        if _code(reply) == 135 and not fresh:  # our cached token expired on the miner
            token = await self._v2_token(target, cred)
            reply = await self._v2_send(target, token, command, expect_reply=expect_reply)
        if _code(reply) == 135:
            self._tokens.pop(slot, None)
            self.context.remember_refusal(target, cred)
            raise WmError("refused", wrong_credentials(target, cred))
        return reply

    async def _v2_send(
        self, target: MinerTarget, token: _Token, command: dict[str, Any], *, expect_reply: bool
    ) -> dict[str, Any]:
        where = f"{target.host}:{target.port}"
        body = v2_envelope(token.key, {**command, "token": token.sign})
        raw = await self._exchange(
            target.host, target.port, body, framed=False, expect_reply=expect_reply
        )
        reply = self._object(raw, where)
        sealed = reply.get("enc")
        if sealed is None:
            return reply  # errors (token, permission) come back in clear
        try:
            plain = v2_decrypt(token.key, sealed, max_bytes=MAX_REPLY)
        except CryptoError as exc:
            raise WmError("failed", f"unexpected reply from {where}: {exc}") from None
        return self._object(plain, where)

    def _v2_check(self, reply: dict[str, Any], name: str) -> str:
        """The miner's words on success; a refusal in an operator's words otherwise."""
        status = reply.get("STATUS")
        if status == "S":
            return _text(reply, lower=False) or "ok"
        code, text = _code(reply), _text(reply)
        if code == 45 or "permission" in text:
            raise WmError("refused", API_DISABLED)
        if code == 136:
            raise WmError(
                "refused", "refused: the miner handed out too many tokens (code 136); try later"
            )
        if code in (14, 132) or "not support" in text or "invalid cmd" in text:
            raise WmError(
                "refused", f"refused: {name} is not supported by this firmware ({code} {text})"
            )
        if status != "E":
            raise WmError("failed", f"unexpected reply to {name}: no STATUS")
        raise WmError("refused", f"refused: the miner rejected {name} ({code} {text})")

    # ------------------------------------------------------------------ API v3

    def _v3_port(self, cred: Credential) -> int:
        return cred.port or V3_PORT

    @staticmethod
    def _v3_login(cred: Credential) -> tuple[str, str]:
        """v3 has no admin account: admin (or no user) means super; admin/admin, v2's factory
        login, means v3's factory super/super. Store user super to give super another password."""
        v2_default = cred.username in (None, "admin")
        if cred.is_default or (v2_default and cred.password in (None, "admin")):
            return "super", "super"
        return ("super" if v2_default else str(cred.username)), cred.password or ""

    async def _v3_call(
        self,
        target: MinerTarget,
        cred: Credential,
        command: str,
        param: Any = None,
        *,
        deadline_s: float | None = None,
        expect_reply: bool = True,
    ) -> dict[str, Any]:
        """One v3 command (``set.*`` signed with a fresh salt); ``expect_reply`` as in
        ``_exchange``, for the command itself, never for the salt asked first."""
        port = self._v3_port(cred)
        request: dict[str, Any] = {"cmd": command}
        if param is not None:
            request["param"] = param
        if command.startswith("set."):
            salt_reply = await self._v3_call(target, cred, "get.device.info", "salt")
            salt = _dig(salt_reply, "msg", "salt")
            if not isinstance(salt, str) or not _TOKEN_FIELD.match(salt):
                raise WmError("failed", "unexpected reply: get.device.info gave no salt")
            account, password = self._v3_login(cred)
            ts = int(time.time())
            request.update(account=account, ts=ts, token=v3_token(command, password, salt, ts))
        raw = await self._exchange(
            target.host,
            port,
            v3_frame(request),
            framed=True,
            deadline_s=deadline_s,
            expect_reply=expect_reply,
        )
        reply = self._object(raw, f"{target.host}:{port}")
        if not isinstance(reply.get("code"), int):
            raise WmError("failed", f"unexpected reply to {command}: no code (not API v3?)")
        return reply

    def _v3_check(
        self, target: MinerTarget, cred: Credential, reply: dict[str, Any], name: str
    ) -> str:
        code = reply["code"]
        msg = reply.get("msg")
        text = str(msg)[:200] if not isinstance(msg, dict | list) else "ok"
        if code == 0:
            return text
        low = text.lower()
        if any(word in low for word in ("token", "password", "account", "auth")):
            self.context.remember_refusal(target, cred)
            raise WmError("refused", wrong_credentials(target, cred))
        if "permission" in low:
            raise WmError("refused", API_DISABLED)
        if code == -2 or "invalid command" in low or "not support" in low:
            raise WmError("refused", f"refused: {name} is not supported by this firmware")
        raise WmError("refused", f"refused: the miner rejected {name} ({code} {text})")

    async def _api(self, target: MinerTarget, cred: Credential) -> str:
        """'v3' when the miner answers API v3 on its port, else 'v2' (remembered a while)."""
        slot = (target.miner_id, self._v3_port(cred))
        known = self._apis.get(slot)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        try:
            timeout = min(PROBE_TIMEOUT_S, self.context.web_timeout_s)
            reply = await self._v3_call(target, cred, "get.device.info", "salt", deadline_s=timeout)
            api = "v3" if reply.get("code") == 0 else "v2"
        except WmError:
            api = "v2"
        self._remember(self._apis, slot, (api, time.monotonic() + API_MEMORY_S))
        return api

    @staticmethod
    def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= MAX_REMEMBERED:
            table.clear()  # bounded; a cleared entry costs one more probe or token
        table[key] = value

    # ------------------------------------------------------------------ actions

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        cred = await self.admit(target, action, params)
        if isinstance(cred, Outcome):
            return cred
        try:
            api = await self._api(target, cred)
            if api == "v3":
                return await self._run_v3(target, cred, action, params)
            return await self._run_v2(target, cred, action, params)
        except WmError as exc:
            return exc.outcome()

    async def _run_v2(
        self, target: MinerTarget, cred: Credential, action: str, params: dict[str, Any]
    ) -> Outcome:
        before: dict[str, Any] = {"api": "v2"}
        note = ""
        if action == "restart":
            before.update(await uptime_before(target.client))
            command: dict[str, Any] = {"cmd": "reboot"}
        elif action in ("sleep", "wake"):
            command = (
                {"cmd": "power_off", "respbefore": "true"}
                if action == "sleep"
                else {"cmd": "power_on"}
            )
        elif action == "fault_light":
            on = bool(params.get("on", True))
            command = (
                {"cmd": "set_led", **FAULT_LIGHT} if on else {"cmd": "set_led", "param": "auto"}
            )
        elif action == "work_mode":
            command = {"cmd": V2_MODES[params["mode"]]}
            before["mode"] = params["mode"]
        else:
            current = await _rpc_pools(target)
            pools, chosen, refusal = _pool_change(action, params, current)
            if refusal:
                return Outcome("refused", refusal)
            before.update(chosen)
            command = {"cmd": "update_pools"}
            for slot in range(POOL_SLOTS):
                url, user, password = pools[slot] if slot < len(pools) else ("", "", "")
                command.update(
                    {
                        f"pool{slot + 1}": url,
                        f"worker{slot + 1}": user,
                        f"passwd{slot + 1}": password,
                    }
                )
            note = _PASSWORD_NOTE if len(pools) > 1 or action != "addpool" else ""
        try:
            reply = await self._v2_command(target, cred, command, expect_reply=action != "restart")
        except WmError as exc:
            if not exc.received:  # only a reboot is sent expecting no reply
                raise
            return Outcome("succeeded", REBOOT_DROPPED, None, before)
        said = self._v2_check(reply, command["cmd"])
        return Outcome("succeeded", _words(action, params, before, said) + note, None, before)

    async def _run_v3(
        self, target: MinerTarget, cred: Credential, action: str, params: dict[str, Any]
    ) -> Outcome:
        before: dict[str, Any] = {"api": "v3"}
        note = ""
        if action == "restart":
            before.update(await uptime_before(target.client))
            command, param = "set.system.reboot", None
        elif action in ("sleep", "wake"):
            command, param = "set.miner.service", "stop" if action == "sleep" else "start"
        elif action == "fault_light":
            on = bool(params.get("on", True))
            command, param = "set.system.led", [FAULT_LIGHT] if on else "auto"
        elif action == "work_mode":
            command, param = "set.miner.power_mode", V3_MODES[params["mode"]]
            before["mode"] = params["mode"]
        else:
            current = [
                (url, user, "x") for url, user, _active in await self._v3_pools(target, cred)
            ]
            pools, chosen, refusal = _pool_change(action, params, current)
            if refusal:
                return Outcome("refused", refusal)
            before.update(chosen)
            command = "set.miner.pools"
            param = [{"pool": u, "worker": w, "passwd": p} for u, w, p in pools[:POOL_SLOTS]]
            note = _PASSWORD_NOTE if len(pools) > 1 or action != "addpool" else ""
        try:
            reply = await self._v3_call(
                target, cred, command, param, expect_reply=action != "restart"
            )
        except WmError as exc:
            if not exc.received:  # only a reboot is sent expecting no reply
                raise
            return Outcome("succeeded", REBOOT_DROPPED, None, before)
        said = self._v3_check(target, cred, reply, command)
        return Outcome("succeeded", _words(action, params, before, said) + note, None, before)

    async def _v3_pools(self, target: MinerTarget, cred: Credential) -> list[tuple[str, str, bool]]:
        reply = await self._v3_call(target, cred, "get.miner.status", "pools")
        rows = _dig(reply, "msg", "pools")
        if not isinstance(rows, list):
            raise WmError("failed", "unexpected reply: get.miner.status has no pools list")
        pools = []
        for row in rows[:16]:
            if isinstance(row, dict) and isinstance(row.get("url"), str) and row["url"]:
                user = row.get("account")
                pools.append(
                    (
                        row["url"][:255],
                        str(user)[:255] if user else "",
                        row.get("stratum-active") is True,
                    )
                )
        return pools

    # ------------------------------------------------------------------ read-back

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        v3 = outcome.before.get("api") == "v3"
        if action in ("switchpool", "removepool", "addpool"):
            if not v3:
                return await verify_pools(self.context, target, action, params, outcome)
            return await self._verify_v3_pools(target, action, outcome)
        cred = await self.context.credential(target, self.kind)

        async def guarded(check: Any) -> str | None:
            try:
                return await check()
            except WmError:
                return None

        if action in ("sleep", "wake"):
            asleep = action == "sleep"

            async def sleeping() -> str | None:
                if v3:
                    info = await self._v3_call(target, cred, "get.device.info")
                    off = _dig(info, "msg", "miner", "working") == "false"
                else:
                    status = await self._v2_plain(target, {"cmd": "status"})
                    off = _dig(status, "Msg", "btmineroff") == "true"
                if off == asleep:
                    return (
                        "verified: the miner stopped hashing (btminer off)"
                        if asleep
                        else "verified: btminer is running again"
                    )
                return None

            found = await wait_until(self.context, lambda: guarded(sleeping), within=None)
            return (
                found
                or f"sent, not verified: the miner did not report btminer {('on', 'off')[asleep]}"
            )
        if action == "fault_light":
            on = bool(params.get("on", True))

            async def led() -> str | None:
                if v3:
                    info = await self._v3_call(target, cred, "get.device.info")
                    state = _dig(info, "msg", "system", "ledstatus")
                else:
                    state = _dig(
                        await self._v2_plain(target, {"cmd": "get_miner_info"}), "Msg", "ledstat"
                    )
                if isinstance(state, str) and (state != "auto") == on:
                    return "verified: the fault light is " + ("blinking" if on else "back to auto")
                return None

            found = await wait_until(self.context, lambda: guarded(led), within=None)
            return found or "sent, not verified: the miner does not report the LED change"
        if action == "work_mode":
            wanted = MODE_WORDS[params["mode"]]

            async def mode() -> str | None:
                if v3:
                    setting = await self._v3_call(target, cred, "get.miner.setting")
                    value = _dig(setting, "msg", "power-mode")
                else:
                    rows = section_rows(await target.client.command("summary"), "SUMMARY")
                    value = rows[0].get("Power Mode") if rows else None
                if isinstance(value, str) and value.lower() == wanted:
                    return f"verified: power mode is {value}"
                return None

            found = await wait_until(self.context, lambda: guarded(mode), within=None)
            return found or "sent, not verified: the miner still reports the old power mode"
        return await super().verify(target, action, params, outcome)

    async def _verify_v3_pools(self, target: MinerTarget, action: str, outcome: Outcome) -> str:
        url, user = str(outcome.before.get("url")), outcome.before.get("user")
        name = pool_name(url, user)
        cred = await self.context.credential(target, self.kind)
        last: list[str] = []

        async def check() -> str | None:
            try:
                pools = await self._v3_pools(target, cred)
            except WmError:
                return None
            last[:] = [pool_name(u, w) for u, w, active in pools if active]
            listed = any(same_pool(u, w, url, user) for u, w, _active in pools)
            if action == "switchpool" and pools and same_pool(pools[0][0], pools[0][1], url, user):
                return f"verified: pool {name} is first in priority"
            if action == "addpool" and listed:
                return f"verified: pool {name} is listed"
            if action == "removepool" and not listed:
                return f"verified: pool {name} is no longer listed"
            return None

        found = await wait_until(self.context, check, within=None)
        active = f"; active pool: {last[0]}" if last else ""
        return found or f"sent, not verified: the miner's pools did not show the change{active}"


async def _rpc_pools(target: MinerTarget) -> list[tuple[str, str, str]]:
    """The configured pools (URL, worker) from the RPC, in slot order; passwords are not shown."""
    try:
        rows = section_rows(await target.client.command("pools"), "POOLS")[:16]
    except CgminerError as exc:
        raise WmError("failed", f"cannot read the pools first: {exc}") from None
    pools = []
    for row in rows:
        url = str(row.get("URL") or "").strip()[:255]
        if url:
            pools.append((url, str(row.get("User") or "")[:255], "x"))
    return pools


_PASSWORD_NOTE = " (the other pools were rewritten with password x: the miner does not report it)"


def _pool_change(
    action: str, params: dict[str, Any], current: list[tuple[str, str, str]]
) -> tuple[list[tuple[str, str, str]], dict[str, str], str | None]:
    """The new pool slots, the pool concerned (URL and user, to read back by), or a refusal."""
    pools = list(current)
    if action == "addpool":
        if len(pools) >= POOL_SLOTS:
            return (
                pools,
                {},
                f"refused: Whatsminer holds at most {POOL_SLOTS} pools; remove one first",
            )
        pools.append((params["url"], params["user"], params["password"]))
        return pools, {"url": params["url"], "user": params["user"]}, None
    index = find_pool([(p[0], p[1]) for p in pools], params)
    if isinstance(index, str):
        return pools, {}, index
    if action == "switchpool":
        pools.insert(0, pools.pop(index))
        chosen = pools[0]
    elif len(pools) == 1:
        return pools, {}, "refused: cannot remove the miner's only pool"
    else:
        chosen = pools.pop(index)
    return pools, {"url": chosen[0], "user": chosen[1]}, None


def _words(action: str, params: dict[str, Any], before: dict[str, Any], said: str) -> str:
    words = {
        "restart": "rebooting: the miner is offline for a while",
        "sleep": "sleeping (btminer powered off)",
        "wake": "waking up (btminer powered on)",
        "fault_light": "fault light " + ("blinking" if params.get("on", True) else "back to auto"),
        "work_mode": f"work mode {params.get('mode')}",
        "switchpool": f"switching to pool {before.get('url')}",
        "removepool": f"removed pool {before.get('url')}",
        "addpool": f"added pool {before.get('url')}",
    }[action]
    return (
        f"{words} ({said[:120]})"
        if said and said.lower() not in ("ok", "api command ok")
        else words
    )


def _code(reply: dict[str, Any]) -> int | None:
    code = reply.get("Code")
    status = reply.get("STATUS")
    if code is None and isinstance(status, list) and status and isinstance(status[0], dict):
        code = status[0].get("Code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _text(reply: dict[str, Any], *, lower: bool = True) -> str:
    msg = reply.get("Msg")
    status = reply.get("STATUS")
    if msg is None and isinstance(status, list) and status and isinstance(status[0], dict):
        msg = status[0].get("Msg")
    text = str(msg)[:200] if isinstance(msg, str | int) else ""
    return text.lower() if lower else text


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
