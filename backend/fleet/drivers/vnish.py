"""Vnish: control through its web API (``/api/v1`` on port 80) with an unlock token.

``POST /api/v1/unlock {"pw": password}`` answers ``{"token"}`` (403: wrong password; 429:
locked after too many); writes carry ``Authorization: Bearer <token>``. The writes used:
``system/reboot``, ``mining/stop`` / ``mining/start`` (sleep / wake), ``find-miner`` (toggles
the locate LED and answers ``{"on"}``), ``settings`` (``miner.pools``, exactly three slots;
``miner.overclock.preset``, the autotune preset). Read back: ``status`` (mining state and
``find_miner``), ``perf-summary`` (the preset running), the RPC's ``pools`` and uptime.

Traps this handles: saved settings answer ``restart_required`` and only apply when the miner
software restarts, so ``mining/restart`` follows; ``find-miner`` toggles, so the light's state
is read first and a toggle that landed wrong is sent once more; a token is kept per miner and
credential, and a 401 on a kept one (it expired) unlocks again once, never in a loop; a 403 on
unlock is a wrong password, remembered so it is not sent again; a 401 with a digest challenge is
a stock Antminer's web interface, not Vnish.
"""

from __future__ import annotations

from typing import Any

from backend.core.untrusted import UntrustedInputError, loads
from backend.fleet.credentials import DEFAULT_WEB_PORT, Credential
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
    uptime_before,
    verify_pools,
    verify_reboot,
    wait_until,
    wrong_credentials,
)
from backend.fleet.drivers.web import unanswered_reboot, web_exchange

API = "/api/v1/"
POOL_SLOTS = 3
MAX_WEB_REPLY = 256 * 1024  # a summary with its chains is ~10 KiB
MAX_TOKEN = 512
MAX_TOKENS_KEPT = 10_000
NORMAL_PRESET = "disabled"  # no autotune preset: the firmware's stock clocks
HASHING_STATES = ("mining", "auto-tuning")
NO_ENABLE = (
    "Vnish's pool settings have no per-pool enable switch "
    "(reorder with switchpool or remove the pool)"
)


class VnishError(DriverError):
    """A web API call that gave no usable answer."""


class VnishDriver(Driver):
    name = "vnish"
    label = "Vnish (web API)"
    kind = "vnish"
    work_modes = COMMON_WORK_MODES

    def __init__(self, context: ControlContext) -> None:
        super().__init__(context)
        # (miner id, credential fingerprint, port) -> token; never shown or logged
        self._tokens: dict[tuple[str, str, int], str] = {}

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        caps = dict.fromkeys(ACTIONS, Capability(True))
        caps["enablepool"] = caps["disablepool"] = Capability(False, NO_ENABLE)
        return caps

    # ------------------------------------------------------------------ transport

    def _port(self, target: MinerTarget, cred: Credential) -> int:
        return cred.port or target.web_port or DEFAULT_WEB_PORT

    def _where(self, target: MinerTarget, cred: Credential) -> str:
        return f"{target.host}:{self._port(target, cred)}"

    async def _send(
        self,
        target: MinerTarget,
        cred: Credential,
        method: str,
        name: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_reply: bool = True,
    ) -> tuple[int, Any, str]:
        """One HTTP call, bounded in time and size: (status, JSON or None, WWW-Authenticate)."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        where = self._where(target, cred)
        reply = await web_exchange(
            self.context,
            target.host,
            self._port(target, cred),
            method,
            f"{API}{name}",
            service="web API",
            max_bytes=MAX_WEB_REPLY,
            error=VnishError,
            headers=headers,
            json=body if method == "POST" else None,
            expect_reply=expect_reply,
        )
        status, raw, challenge = reply.status, reply.body, reply.challenge
        data: Any = None
        if raw.strip():
            try:
                data = loads(raw, max_bytes=MAX_WEB_REPLY, what=f"{name} reply")
            except UntrustedInputError as exc:
                if status == 200:
                    raise VnishError(
                        "failed",
                        f"unexpected reply from {where}: {exc} (not the Vnish web API?)",
                    ) from None
        return status, data, challenge

    async def _unlock(self, target: MinerTarget, cred: Credential) -> str:
        """A fresh token for this miner and credential (kept for the next calls)."""
        status, data, challenge = await self._send(
            target, cred, "POST", "unlock", {"pw": cred.password or ""}
        )
        where = self._where(target, cred)
        if status == 403:
            self.context.remember_refusal(target, cred)
            raise VnishError("refused", wrong_credentials(target, cred))
        if status == 429:
            wait = data.get("unlock_timeout") if isinstance(data, dict) else None
            after = f" for {wait}s" if isinstance(wait, int) and 0 < wait < 86400 else ""
            raise VnishError(
                "refused",
                f"refused: {target.label} locked its web API{after} after too many wrong "
                "passwords; not sent again until then",
            )
        if status == 401 and "digest" in challenge.lower():
            raise VnishError(
                "failed",
                f"unexpected reply: {where} asks for HTTP digest auth on {API}unlock "
                "(a stock Antminer web interface, not Vnish?)",
            )
        token = data.get("token") if isinstance(data, dict) and status == 200 else None
        if not isinstance(token, str) or not _usable_token(token):
            raise VnishError(
                "failed",
                f"unexpected reply: HTTP {status} on {API}unlock at {where} without a token "
                "(not the Vnish web API?)",
            )
        self._keep(target, cred, token)
        return token

    def _keep(self, target: MinerTarget, cred: Credential, token: str | None) -> None:
        key = (target.miner_id, cred.fingerprint, self._port(target, cred))
        self._tokens.pop(key, None)
        if token is None:
            return
        if len(self._tokens) >= MAX_TOKENS_KEPT:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[key] = token

    async def _api(
        self,
        target: MinerTarget,
        cred: Credential,
        method: str,
        name: str,
        body: dict[str, Any] | None = None,
        *,
        expect_reply: bool = True,
    ) -> Any:
        """A call behind the unlock token; a kept token that went stale is renewed once."""
        key = (target.miner_id, cred.fingerprint, self._port(target, cred))
        token = self._tokens.get(key)
        kept = token is not None
        if token is None:
            token = await self._unlock(target, cred)
        status, data, _ = await self._send(
            target, cred, method, name, body, token=token, expect_reply=expect_reply
        )
        if status == 401 and kept:
            self._keep(target, cred, None)
            token = await self._unlock(target, cred)
            status, data, _ = await self._send(
                target, cred, method, name, body, token=token, expect_reply=expect_reply
            )
        return self._answer(target, cred, name, status, data)

    async def _open(self, target: MinerTarget, cred: Credential, name: str) -> dict[str, Any]:
        """A read Vnish serves without a token (``status``, ``perf-summary``); a build that
        wants one for it gets one."""
        status, data, _ = await self._send(target, cred, "GET", name)
        if status == 401:
            data = await self._api(target, cred, "GET", name)
        else:
            data = self._answer(target, cred, name, status, data)
        if not isinstance(data, dict):
            raise VnishError(
                "failed",
                f"unexpected reply from {self._where(target, cred)}: {name} is not an object",
            )
        return data

    def _answer(
        self, target: MinerTarget, cred: Credential, name: str, status: int, data: Any
    ) -> Any:
        where = self._where(target, cred)
        if status == 200:
            return data
        if status == 401:
            self._keep(target, cred, None)
            raise VnishError(
                "failed", f"{where} refused the token it had just issued for {API}{name}"
            )
        if status in (400, 500) and isinstance(data, dict) and isinstance(data.get("err"), str):
            reason = data["err"].strip()[:200] or "no reason given"
            raise VnishError("refused", f"refused: the miner rejected {name}: {reason}")
        raise VnishError(
            "failed",
            f"unexpected reply: HTTP {status} on {API}{name} at {where} (not the Vnish web API?)",
        )

    # ------------------------------------------------------------------ actions

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        cred = await self.admit(target, action, params)
        if isinstance(cred, Outcome):
            return cred
        try:
            return await self._run(target, cred, action, params)
        except VnishError as exc:
            return exc.outcome()

    async def _run(
        self, target: MinerTarget, cred: Credential, action: str, params: dict[str, Any]
    ) -> Outcome:
        if action == "restart":
            before = await uptime_before(target.client)
            try:
                reply = await self._api(target, cred, "POST", "system/reboot", expect_reply=False)
            except VnishError as exc:
                if exc.state != "timeout":
                    raise
                return unanswered_reboot(exc, before)
            after = reply.get("after") if isinstance(reply, dict) else None
            when = f" in {after}s" if isinstance(after, int) and 0 <= after < 3600 else ""
            return Outcome(
                "succeeded", f"rebooting{when}: the miner is offline for a while", None, before
            )
        if action in ("sleep", "wake"):
            name = "mining/stop" if action == "sleep" else "mining/start"
            await self._api(target, cred, "POST", name)
            words = "mining stopped (sleeping)" if action == "sleep" else "mining started"
            return Outcome("succeeded", words)
        if action == "fault_light":
            return await self._fault_light(target, cred, bool(params.get("on", True)))
        if action == "work_mode":
            return await self._work_mode(target, cred, str(params.get("mode")))
        return await self._pools(target, cred, action, params)

    async def _fault_light(self, target: MinerTarget, cred: Credential, on: bool) -> Outcome:
        words = "blinking" if on else "off"
        status = await self._open(target, cred, "status")
        if status.get("find_miner") is on:
            return Outcome("succeeded", f"fault light already {words}")
        state: Any = None
        for _ in range(2):  # a toggle: a second press only if the first landed the wrong way
            reply = await self._api(target, cred, "POST", "find-miner")
            state = reply.get("on") if isinstance(reply, dict) else None
            if state is on or not isinstance(state, bool):
                return Outcome("succeeded", f"fault light {words}")
        return Outcome("failed", f"find-miner left the fault light {'on' if state else 'off'}")

    async def _work_mode(self, target: MinerTarget, cred: Credential, mode: str) -> Outcome:
        presets = _presets(await self._api(target, cred, "GET", "autotune/presets"))
        if mode == "normal":
            chosen = next((p for p in presets if p[0] == NORMAL_PRESET), None)
            chosen = chosen or (NORMAL_PRESET, "Disabled", False, None)
        else:
            rated = [p for p in presets if p[3] is not None]
            tuned = [p for p in rated if p[2]]
            pool = tuned or rated
            if not pool:
                return Outcome("refused", "refused: the miner lists no power presets to lower to")
            chosen = min(pool, key=lambda p: p[3] or 0)
        name, pretty, is_tuned, watts = chosen
        reply = await self._api(
            target, cred, "POST", "settings", {"miner": {"overclock": {"preset": name}}}
        )
        note = "" if is_tuned or watts is None else " (untuned: the miner autotunes it first)"
        result = f"work mode {mode}: preset {name} ({pretty}){note}"
        return await self._applied(target, cred, reply, result, {"preset": name})

    async def _pools(
        self, target: MinerTarget, cred: Credential, action: str, params: dict[str, Any]
    ) -> Outcome:
        pools = _settings_pools(await self._api(target, cred, "GET", "settings"))
        if pools is None:
            raise VnishError("failed", "unexpected reply: settings has no miner.pools list")
        index = 0
        if action in ("switchpool", "removepool"):
            found = find_pool([(p.get("url", ""), p.get("user")) for p in pools], params)
            if isinstance(found, str):
                return Outcome("refused", found)
            index = found
        if action == "switchpool":
            before = {"url": pools[index]["url"]}
            pools.insert(0, pools.pop(index))
            words = f"switching to pool {before['url']}"
        elif action == "removepool":
            if len(pools) == 1:
                return Outcome("refused", "refused: cannot remove the miner's only pool")
            before = {"url": pools.pop(index)["url"]}
            words = f"removed pool {before['url']}"
        else:  # addpool
            if len(pools) >= POOL_SLOTS:
                return Outcome(
                    "refused", f"refused: Vnish holds at most {POOL_SLOTS} pools; remove one first"
                )
            pools.append({"url": params["url"], "user": params["user"], "pass": params["password"]})
            before = {"url": params["url"]}
            words = f"added pool {before['url']}"
        slots = pools + [{"url": "", "user": "", "pass": ""}] * (POOL_SLOTS - len(pools))
        reply = await self._api(target, cred, "POST", "settings", {"miner": {"pools": slots}})
        return await self._applied(target, cred, reply, words, before)

    async def _applied(
        self,
        target: MinerTarget,
        cred: Credential,
        reply: Any,
        words: str,
        before: dict[str, Any],
    ) -> Outcome:
        """Saved; restart the miner software when the firmware says the change needs it."""
        reply = reply if isinstance(reply, dict) else {}
        if reply.get("restart_required") is True:
            await self._api(target, cred, "POST", "mining/restart")
            words += ": saved, miner software restarted to apply it"
        else:
            words += ": saved"
        if reply.get("reboot_required") is True:
            words += " (the miner asks for a reboot to apply all of it)"
        return Outcome("succeeded", words, None, before)

    # ------------------------------------------------------------------ read-back

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        if action in ("switchpool", "removepool", "addpool"):
            return await verify_pools(self.context, target, action, params, outcome)
        cred = await self.context.credential(target, self.kind)
        seen: list[str] = []

        async def read(name: str) -> dict[str, Any] | None:
            try:
                return await self._open(target, cred, name)
            except VnishError as exc:
                seen[:] = [exc.message]
                return None

        if action in ("sleep", "wake"):

            async def state_now() -> str | None:
                status = await read("status")
                state = str(status.get("miner_state"))[:32] if status else None
                if state is not None:
                    seen[:] = [f"state {state}"]
                if action == "sleep" and state == "stopped":
                    return "verified: the miner stopped mining (state stopped)"
                if action == "wake" and state in HASHING_STATES:
                    return f"verified: mining again (state {state})"
                return None

            return await self._waited(state_now, seen)
        if action == "fault_light":
            on = bool(params.get("on", True))

            async def light_now() -> str | None:
                status = await read("status")
                if status is not None and status.get("find_miner") is on:
                    return "verified: the fault light is " + ("blinking" if on else "off")
                return None

            return await self._waited(light_now, seen)
        if action == "work_mode":
            wanted = outcome.before.get("preset")

            async def preset_now() -> str | None:
                perf = await read("perf-summary")
                current = perf.get("current_preset") if perf else None
                name = current.get("name") if isinstance(current, dict) else None
                if isinstance(name, str):
                    seen[:] = [f"running preset {name[:40]}"]
                if name == wanted:
                    return f"verified: running preset {name}"
                return None

            return await self._waited(preset_now, seen)
        return await super().verify(target, action, params, outcome)

    async def _waited(self, check: Any, seen: list[str]) -> str:
        found = await wait_until(self.context, check, within=None)
        if found is not None:
            return found
        last = f"; last seen: {seen[0]}" if seen else ""
        return (
            f"sent, not verified: the miner did not show the change within "
            f"{self.context.verify_timeout_s:g}s{last}"
        )


def _usable_token(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN and token.isascii() and token.isprintable()


def _settings_pools(settings: Any) -> list[dict[str, str]] | None:
    """The configured pools in order, blank slots dropped; None without a pools list."""
    miner = settings.get("miner") if isinstance(settings, dict) else None
    raw = miner.get("pools") if isinstance(miner, dict) else None
    if not isinstance(raw, list):
        return None
    pools = []
    for item in raw[: POOL_SLOTS * 4]:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "").strip()[:255]
        if url:
            pools.append(
                {
                    "url": url,
                    "user": str(item.get("user") or "")[:255],
                    "pass": str(item.get("pass") or "")[:255],
                }
            )
    return pools[:POOL_SLOTS]


def _presets(reply: Any) -> list[tuple[str, str, bool, int | None]]:
    """(name, pretty, tuned, watts) per preset; watts from names like '2100' (None: 'disabled').

    The list comes bare (1.2.x) or as ``{"presets": [...]}`` (later builds)."""
    items = reply.get("presets") if isinstance(reply, dict) else reply
    if not isinstance(items, list):
        raise VnishError("failed", "unexpected reply: autotune/presets is not a list")
    presets = []
    for item in items[:200]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name = item["name"][:40]
        watts = int(name) if name.isdigit() and 0 < int(name) < 100_000 else None
        pretty = str(item.get("pretty") or name)[:80]
        presets.append((name, pretty, item.get("status") == "tuned", watts))
    return presets
