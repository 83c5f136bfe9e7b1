"""The stock Antminer web CGI of one simulated miner: lighttpd with HTTP digest auth.

Serves what the control driver uses (``backend/fleet/drivers/antminer.py``) in the firmware's
own shapes: ``get_miner_conf`` (``bitmain-work-mode`` as a string, three pool slots),
``set_miner_conf`` (``miner-mode`` written as a number or string; the whole configuration
replaced), ``reboot``, ``blink`` / ``get_blink_status``, ``get_system_info``. Digest auth with
realm ``antMiner Configuration`` and qop ``auth`` (a wrong password is a 401, every time).

``fault`` switches misbehaviour on for tests: ``hang`` (accepts, never answers), ``html`` (a
different web server: HTML 404s), ``refuse`` (the firmware rejects every change).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from backend.sim.side_server import SideServer

if TYPE_CHECKING:
    from backend.sim.fleet import SimMiner

REALM = "antMiner Configuration"
MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 10.0
POOL_SLOTS = 3
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class AntminerWebServer(SideServer):
    """One miner's web interface on its own address (real miners: port 80)."""

    what = "web CGI"

    def __init__(
        self, miner: SimMiner, host: str, port: int, *, user: str = "root", password: str = "root"
    ) -> None:
        super().__init__(miner, host, port)
        self.user = user
        self.password = password
        self.fault: str | None = None
        self.requests: list[str] = []  # "GET get_miner_conf" ..., bounded below
        self.unauthorized = 0  # 401s sent after a wrong password (not the first challenge)
        self._nonces: set[str] = set()

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.miner.restarting or not self.miner.listening:
                return  # rebooting: the web interface is down with the rest
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
                    method, path, headers = _parse_head(head)
                    length = int(headers.get("content-length") or 0)
                    if not 0 <= length <= MAX_BODY:
                        return
                    body = await reader.readexactly(length) if length else b""
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                return
            if self.fault == "hang":
                self._held.add(writer)
                with contextlib.suppress(Exception):
                    await reader.read()  # until the client gives up
                return
            status, extra, payload, after = self._route(method, path, headers, body)
            writer.write(_response(status, extra, payload))
            await writer.drain()
            if after is not None:
                after()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, Any]:
        if self.fault == "html":
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not Found</body></html>", None
        if not self._authorized(method, path, headers.get("authorization", "")):
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            if len(self._nonces) > 256:
                self._nonces.pop()
            challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth"'
            return 401, {"WWW-Authenticate": challenge}, b"401 Unauthorized", None
        name = path.split("?", 1)[0].removeprefix("/cgi-bin/").removesuffix(".cgi")
        if len(self.requests) < 1000:
            self.requests.append(f"{method} {name}")
        handler = {
            "get_miner_conf": self._get_conf,
            "set_miner_conf": self._set_conf,
            "reboot": self._reboot,
            "blink": self._blink,
            "get_blink_status": self._blink_status,
            "get_system_info": self._system_info,
        }.get(name)
        if handler is None:
            return 404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>", None
        reply, after = handler(body)
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode(), after

    def _authorized(self, method: str, uri: str, header: str) -> bool:
        if not header.lower().startswith("digest "):
            return False
        fields = {m[0]: m[1] or m[2] for m in _PARAM.findall(header[7:])}
        nonce = fields.get("nonce", "")
        if nonce not in self._nonces or fields.get("realm") != REALM:
            return False
        ha1 = _md5(f"{fields.get('username', '')}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{fields.get('uri', uri)}")
        if fields.get("qop") == "auth":
            expected = _md5(
                f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        ok = fields.get("username") == self.user and secrets.compare_digest(
            expected, fields.get("response", "")
        )
        if not ok:
            self.unauthorized += 1
        return ok

    # ------------------------------------------------------------------ CGI

    def _get_conf(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        slots = [{"url": p.url, "user": p.user, "pass": p.password} for p in _ordered(miner)]
        slots = slots[:POOL_SLOTS] + [{"url": "", "user": "", "pass": ""}] * (
            POOL_SLOTS - len(slots)
        )
        conf = {
            "pools": slots,
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100",
            "bitmain-use-vil": True,
            "bitmain-freq": str(miner.profile.frequency),
            "bitmain-voltage": "1400",
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-work-mode": str(miner.work_mode),
            "bitmain-freq-level": "100",
        }
        return conf, None

    def _set_conf(self, body: bytes) -> tuple[dict[str, Any], None]:
        illegal = {"stats": "error", "code": "M001", "msg": "Illegal parameters!"}
        if self.fault == "refuse":
            return {"stats": "error", "code": "M002", "msg": "Configuration locked"}, None
        try:
            conf = json.loads(body)
            mode = int(str(conf["miner-mode"]))
            pools = conf["pools"]
        except (ValueError, KeyError, TypeError):
            return illegal, None
        if mode not in (0, 1, 3) or not isinstance(pools, list) or len(pools) != POOL_SLOTS:
            return illegal, None
        entries = []
        for item in pools:
            if not isinstance(item, dict):
                return illegal, None
            url = str(item.get("url") or "").strip()
            if url:
                entries.append((url, str(item.get("user") or ""), str(item.get("pass") or "")))
        if not entries:
            return illegal, None
        apply_pools(self.miner, entries)
        self.miner.work_mode = mode
        self.miner.sleeping = mode == 1
        return {"stats": "success", "code": "M000", "msg": "OK!"}, None

    def _reboot(self, _body: bytes) -> tuple[dict[str, Any], Any]:
        miner = self.miner
        return {"stats": "success", "code": "R000", "msg": "OK!"}, lambda: miner._spawn(
            miner._restart()
        )

    def _blink(self, body: bytes) -> tuple[dict[str, Any], None]:
        try:
            wanted = str(json.loads(body or b"{}").get("blink", "")).lower()
        except (ValueError, AttributeError):
            wanted = ""
        if wanted not in ("true", "false"):
            return {"stats": "error", "code": "B001", "msg": "Illegal parameters!"}, None
        self.miner.blinking = wanted == "true"
        return {"code": "B000" if self.miner.blinking else "B100"}, None

    def _blink_status(self, _body: bytes) -> tuple[dict[str, Any], None]:
        return {"blinking": self.miner.blinking}, None

    def _system_info(self, _body: bytes) -> tuple[dict[str, Any], None]:
        miner = self.miner
        info = {
            "minertype": miner.profile.model,
            "nettype": "DHCP",
            "netdevice": "eth0",
            "macaddr": miner._mac(),
            "hostname": "Antminer",
            "ipaddress": miner.host,
            "netmask": "255.255.255.0",
            "system_mode": "GNU/Linux",
            "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
            "system_filesystem_version": "Tue Dec  6 16:12:30 CST 2022",
            "firmware_type": "Release",
        }
        return info, None


def _ordered(miner: SimMiner) -> list[Any]:
    return sorted(miner.pools, key=lambda p: p.priority)


def apply_pools(miner: SimMiner, entries: list[tuple[str, str, str]]) -> None:
    """Replace the pool list in the given order, keeping the counters of pools that stay."""
    from backend.sim.fleet import SimPool

    known = {p.url: p for p in miner.pools}
    pools = []
    for priority, (url, user, password) in enumerate(entries):
        pool = known.pop(url, None) or SimPool(url=url, user=user)
        pool.user, pool.password, pool.priority, pool.enabled = user, password, priority, True
        pools.append(pool)
    miner.pools = pools


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    if len(head) > MAX_HEADER:
        raise ValueError("header too large")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method.upper(), path, headers


def _response(status: int, headers: dict[str, str], body: bytes) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", "Server: lighttpd/1.4.32"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body
