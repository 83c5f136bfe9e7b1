"""Stock Antminer: control through the web CGI with HTTP digest auth.

Stock firmware keeps the RPC read-only unless ``--api-allow W:`` was set by hand, so every
write goes through lighttpd's CGI (realm ``antMiner Configuration``, factory login root/root):
``reboot.cgi``, ``get_miner_conf.cgi`` / ``set_miner_conf.cgi`` (pools, work mode),
``blink.cgi`` and ``get_blink_status.cgi``, ``get_system_info.cgi``.

Traps this handles: the configuration is read with ``bitmain-work-mode`` (a string) but written
with ``miner-mode`` (a number); ``set_miner_conf`` replaces the whole configuration, so it is
always read, changed and written back whole (fan and frequency settings kept); the firmware
holds exactly three pool slots (empty ones are blank strings); a 401 is a wrong password and is
never retried (the refusal is remembered for the miner until the credentials change).
"""

from __future__ import annotations

from typing import Any

import httpx

from backend.core.untrusted import UntrustedInputError, loads
from backend.fleet.credentials import DEFAULT_WEB_PORT, Credential
from backend.fleet.drivers.base import (
    ACTIONS,
    COMMON_WORK_MODES,
    Capability,
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

REALM = "antMiner Configuration"
POOL_SLOTS = 3
MAX_WEB_REPLY = 64 * 1024  # real CGI replies are under 2 KiB
WORK_MODES = {"normal": 0, "sleep": 1, "low_power": 3}
MODE_NAMES = {v: k for k, v in WORK_MODES.items()}
NO_ENABLE = (
    "stock Antminer's configuration has no per-pool enable switch "
    "(reorder with switchpool or remove the pool)"
)


class WebError(DriverError):
    """A web CGI call that gave no usable answer."""


class AntminerWebDriver(Driver):
    name = "antminer-web"
    label = "stock Antminer (web CGI)"
    kind = "web"
    work_modes = COMMON_WORK_MODES

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        caps = dict.fromkeys(ACTIONS, Capability(True))
        caps["enablepool"] = caps["disablepool"] = Capability(False, NO_ENABLE)
        return caps

    # ------------------------------------------------------------------ transport

    def _port(self, target: MinerTarget, cred: Credential) -> int:
        return cred.port or target.web_port or DEFAULT_WEB_PORT

    async def cgi(
        self,
        target: MinerTarget,
        cred: Credential,
        name: str,
        body: dict[str, Any] | None = None,
        *,
        expect_reply: bool = True,
    ) -> dict[str, Any]:
        """One CGI call, bounded in time and size; the reply must be a JSON object."""
        port = self._port(target, cred)
        where = f"{target.host}:{port}"
        reply = await web_exchange(
            self.context,
            target.host,
            port,
            "POST" if body is not None else "GET",
            f"/cgi-bin/{name}.cgi",
            service="web interface",
            max_bytes=MAX_WEB_REPLY,
            error=WebError,
            auth=httpx.DigestAuth(cred.username or "", cred.password or ""),
            json=body,
            expect_reply=expect_reply,
        )
        status, raw = reply.status, reply.body
        if status == 401:
            self.context.remember_refusal(target, cred)
            raise WebError("refused", wrong_credentials(target, cred))
        if status != 200:
            raise WebError(
                "failed",
                f"unexpected reply: HTTP {status} on /cgi-bin/{name}.cgi at {where} "
                "(not the stock Antminer web interface?)",
            )
        if not raw.strip() and not expect_reply:
            return {}
        try:
            data = loads(raw, max_bytes=MAX_WEB_REPLY, what=f"{name}.cgi reply")
        except UntrustedInputError as exc:
            raise WebError(
                "failed",
                f"unexpected reply from {where}: {exc} (not the stock Antminer web interface?)",
            ) from None
        if not isinstance(data, dict):
            raise WebError("failed", f"unexpected reply from {where}: {name}.cgi is not an object")
        return data

    # ------------------------------------------------------------------ actions

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        cred = await self.admit(target, action, params)
        if isinstance(cred, Outcome):
            return cred
        try:
            return await self._run(target, cred, action, params)
        except WebError as exc:
            return exc.outcome()

    async def _run(
        self, target: MinerTarget, cred: Credential, action: str, params: dict[str, Any]
    ) -> Outcome:
        if action == "restart":
            before = await uptime_before(target.client)
            try:
                await self.cgi(target, cred, "reboot", expect_reply=False)
            except WebError as exc:
                if exc.state != "timeout":
                    raise
                return unanswered_reboot(exc, before)
            return Outcome("succeeded", "rebooting: the miner is offline for a while", None, before)
        if action == "fault_light":
            on = bool(params.get("on", True))
            reply = await self.cgi(target, cred, "blink", {"blink": "true" if on else "false"})
            code = str(reply.get("code") or "")
            if code not in ("B000", "B100") and str(reply.get("stats", "")).lower() != "success":
                return self._refused(reply, "blink")
            return Outcome("succeeded", "fault light " + ("blinking" if on else "off"))
        conf = await self.cgi(target, cred, "get_miner_conf")
        pools = _conf_pools(conf)
        if pools is None:
            raise WebError("failed", "unexpected reply: get_miner_conf has no pools list")
        before: dict[str, Any] = {}
        mode: int | None = None
        if action in ("sleep", "wake", "work_mode"):
            mode = WORK_MODES[
                "sleep" if action == "sleep" else "normal" if action == "wake" else params["mode"]
            ]
            before = {"mode": mode}
        elif action == "switchpool":
            index = find_pool([(p["url"], p["user"]) for p in pools], params)
            if isinstance(index, str):
                return Outcome("refused", index)
            before = {"url": pools[index]["url"], "user": pools[index]["user"]}
            pools.insert(0, pools.pop(index))
        elif action == "removepool":
            index = find_pool([(p["url"], p["user"]) for p in pools], params)
            if isinstance(index, str):
                return Outcome("refused", index)
            if len(pools) == 1:
                return Outcome("refused", "refused: cannot remove the miner's only pool")
            removed = pools.pop(index)
            before = {"url": removed["url"], "user": removed["user"]}
        elif action == "addpool":
            if len(pools) >= POOL_SLOTS:
                return Outcome(
                    "refused",
                    f"refused: stock Antminer holds at most {POOL_SLOTS} pools; remove one first",
                )
            pools.append({"url": params["url"], "user": params["user"], "pass": params["password"]})
            before = {"url": params["url"], "user": params["user"]}
        reply = await self.cgi(target, cred, "set_miner_conf", _conf_body(conf, pools, mode))
        if str(reply.get("stats", "")).lower() != "success" and reply.get("code") != "M000":
            return self._refused(reply, "set_miner_conf")
        words = {
            "sleep": "sleeping (work mode sleep)",
            "wake": "waking up (work mode normal)",
            "work_mode": f"work mode {params.get('mode')}",
            "switchpool": f"switching to pool {before.get('url')}",
            "removepool": f"removed pool {before.get('url')}",
            "addpool": f"added pool {before.get('url')}",
        }
        return Outcome("succeeded", f"{words[action]}: configuration saved", None, before)

    @staticmethod
    def _refused(reply: dict[str, Any], name: str) -> Outcome:
        msg = str(reply.get("msg") or reply.get("message") or "no reason given")[:200]
        code = str(reply.get("code") or "")[:16]
        return Outcome("refused", f"refused: the miner rejected {name}.cgi ({code} {msg})".strip())

    # ------------------------------------------------------------------ read-back

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        if action in ("switchpool", "removepool", "addpool"):
            return await verify_pools(
                self.context,
                target,
                action,
                params,
                outcome,
                note=" (stock firmware applies pools when its miner software restarts)",
            )
        cred = await self.context.credential(target, self.kind)
        if action in ("sleep", "wake", "work_mode"):
            wanted = outcome.before.get("mode")

            async def mode_now() -> str | None:
                try:
                    conf = await self.cgi(target, cred, "get_miner_conf")
                except WebError:
                    return None
                mode = _int(conf.get("bitmain-work-mode"))
                if mode == wanted:
                    return f"verified: work mode is {MODE_NAMES.get(mode, mode)}"
                return None

            found = await wait_until(self.context, mode_now, within=None)
            return found or "sent, not verified: get_miner_conf still shows the old work mode"
        if action == "fault_light":
            on = bool(params.get("on", True))
            try:
                status = await self.cgi(target, cred, "get_blink_status")
            except WebError as exc:
                return f"sent, not verified: {exc.message}"
            blinking = status.get("blink", status.get("blinking", status.get("isBlinking")))
            if isinstance(blinking, bool) and blinking == on:
                return "verified: the fault light is " + ("blinking" if on else "off")
            return "sent, not verified: get_blink_status does not show the change"
        return await super().verify(target, action, params, outcome)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _conf_pools(conf: dict[str, Any]) -> list[dict[str, str]] | None:
    """The configured pools, blank slots dropped; None when the reply has no pools list."""
    raw = conf.get("pools")
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
    return pools


def _conf_body(
    conf: dict[str, Any], pools: list[dict[str, str]], mode: int | None
) -> dict[str, Any]:
    """The whole configuration to write back: what was read, with pools and mode changed."""
    slots = pools[:POOL_SLOTS] + [{"url": "", "user": "", "pass": ""}] * (POOL_SLOTS - len(pools))
    current = _int(conf.get("bitmain-work-mode"))
    fan_ctrl = conf.get("bitmain-fan-ctrl")
    return {
        "bitmain-fan-ctrl": fan_ctrl if isinstance(fan_ctrl, bool) else False,
        "bitmain-fan-pwm": str(conf.get("bitmain-fan-pwm") or "100")[:8],
        "freq-level": str(conf.get("bitmain-freq-level") or "100")[:8],
        "miner-mode": mode if mode is not None else (current if current is not None else 0),
        "pools": slots,
    }
