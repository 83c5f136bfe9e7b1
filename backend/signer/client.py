"""The signing service: dials the issuer's signer hub, proves who it is, signs what it is asked.

It opens no port. For each configured URL it keeps one connection, reconnecting with
exponential backoff (with jitter) whenever the hub is down or the connection drops. It signs
only what it understands: it rebuilds the signable bytes from the tx itself (the hub's copy is
only compared), refuses tx types and quantities its config does not allow, and signs only with
keys it holds that the request names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from backend.core.backoff import exponential
from backend.ndau import signer_protocol as proto
from backend.ndau.keys import PrivateKey, sign
from backend.ndau.tx import IssueTx, IssueTxError
from backend.signer.config import SignerConfig

log = logging.getLogger("hashinsight.signer")

PING_INTERVAL_S = 15.0
OPEN_TIMEOUT_S = 10.0
UrlSource = Callable[[], Awaitable[str | None]]


class _RequestRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class LinkState:
    """How one configured hub URL is doing, for logs and tests."""

    url: str
    connected: bool = False
    authenticated: bool = False
    attempts: int = 0
    connects: int = 0
    last_error: str | None = None
    signed: int = 0
    refused: int = 0
    session: str | None = None
    history: list[str] = field(default_factory=list)


class SigningService:
    def __init__(
        self,
        config: SignerConfig,
        *,
        url_sources: list[UrlSource] | None = None,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        self.config = config
        self.keys: dict[str, PrivateKey] = {
            key.public_key().to_text(): key for key in config.signing_keys
        }
        self.identity_public = config.identity.public_key().to_text()
        self.ping_interval_s = ping_interval_s
        if url_sources is None:
            url_sources = [_fixed(url) for url in config.urls]
        self._sources = url_sources
        self.links: list[LinkState] = [
            LinkState(url=config.urls[i] if i < len(config.urls) else "(discovered)")
            for i in range(len(url_sources))
        ]
        self._stop = asyncio.Event()

    @property
    def connected(self) -> bool:
        return any(link.authenticated for link in self.links)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Keep every link up until `request_stop()`."""
        tasks = [
            asyncio.create_task(self._link(source, link), name=f"signer-link-{i}")
            for i, (source, link) in enumerate(zip(self._sources, self.links, strict=True))
        ]
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _link(self, source: UrlSource, link: LinkState) -> None:
        failures = 0
        while not self._stop.is_set():
            link.attempts += 1
            url = await source()
            if url is not None:
                link.url = url
                try:
                    async with connect(
                        url, open_timeout=OPEN_TIMEOUT_S, max_size=proto.MAX_FRAME_BYTES
                    ) as ws:
                        link.connected = True
                        link.connects += 1
                        await self._session(ws, link)
                        failures = 0
                except asyncio.CancelledError:
                    raise
                except _AuthFailed as exc:
                    link.last_error = f"hub refused authentication: {exc}"
                    log.error("%s: %s", url, link.last_error)
                    failures = max(failures, 8)  # wait long: a person must fix the allow-list
                except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                    link.last_error = f"{type(exc).__name__}: {str(exc)[:160]}"
                    log.info("signer link to %s down: %s", url, link.last_error)
                finally:
                    link.connected = False
                    link.authenticated = False
            else:
                link.last_error = "hub address not known yet"
            failures += 1
            delay = exponential(
                failures,
                base_s=self.config.reconnect_min_s,
                cap_s=self.config.reconnect_max_s,
                jitter="equal",
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _session(self, ws: ClientConnection, link: LinkState) -> None:
        challenge = proto.decode(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_S))
        if challenge["type"] != proto.CHALLENGE:
            raise _AuthFailed("the hub did not start with a challenge")
        nonce = proto.b64decode(challenge.get("nonce"), "nonce")
        hub_id = str(challenge.get("hub", ""))
        signature = sign(self.config.identity, proto.auth_message(nonce, hub_id))
        await ws.send(
            proto.encode(
                {
                    "type": proto.HELLO,
                    "name": self.config.name,
                    "identity": self.identity_public,
                    "signature": signature.to_text(),
                    "keys": sorted(self.keys),
                }
            )
        )
        answer = proto.decode(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_S))
        if answer["type"] != proto.WELCOME:
            raise _AuthFailed(str(answer.get("message") or answer.get("code") or "refused"))
        link.authenticated = True
        link.session = str(answer.get("session"))
        link.last_error = None
        log.info("signer %r authenticated to %s", self.config.name, link.url)
        pinger = asyncio.create_task(self._ping(ws))
        try:
            async for text in ws:
                await self._handle(ws, text, link)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pinger

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send(proto.encode({"type": proto.PING, "ts": time.time()}))

    async def _handle(self, ws: ClientConnection, text: str | bytes, link: LinkState) -> None:
        try:
            message = proto.decode(text)
        except proto.ProtocolError as exc:
            log.warning("bad frame from hub: %s", exc)
            return
        if message["type"] != proto.SIGN_REQUEST:
            return
        request_id = str(message.get("id", ""))
        try:
            signatures = self.sign_request(message)
        except _RequestRefused as exc:
            link.refused += 1
            link.history.append(f"refused:{exc.code}")
            log.warning("refused sign request %s: %s", request_id, exc)
            reply: dict[str, Any] = {
                "type": proto.SIGN_REPLY,
                "id": request_id,
                "error": {"code": exc.code, "message": str(exc)},
            }
        else:
            link.signed += 1
            link.history.append("signed")
            reply = {"type": proto.SIGN_REPLY, "id": request_id, "signatures": signatures}
        await ws.send(proto.encode(reply))

    def sign_request(self, message: dict[str, Any]) -> list[dict[str, str]]:
        """Check one sign_request and sign it, or raise `_RequestRefused`."""
        tx_type = str(message.get("tx_type", ""))
        if tx_type.lower() not in self.config.tx_types:
            raise _RequestRefused("unsupported_tx", f"this signer does not sign {tx_type!r}")
        try:
            tx = IssueTx.from_json(message.get("tx") or {})
        except IssueTxError as exc:
            raise _RequestRefused("bad_request", f"tx: {exc}") from None
        if tx.signatures:
            raise _RequestRefused("bad_request", "the tx to sign already carries signatures")
        try:
            claimed = proto.b64decode(message.get("signable_bytes"), "signable_bytes")
        except proto.ProtocolError as exc:
            raise _RequestRefused("bad_request", str(exc)) from None
        signable = tx.signable_bytes()
        if claimed != signable:
            raise _RequestRefused("bad_request", "signable_bytes do not match the tx")
        if self.config.max_qty_napu is not None and tx.qty > self.config.max_qty_napu:
            raise _RequestRefused("refused", f"qty {tx.qty} napu is above this signer's limit")
        try:
            wanted = proto.str_list(message.get("keys"), "keys")
        except proto.ProtocolError as exc:
            raise _RequestRefused("bad_request", str(exc)) from None
        held = [k for k in wanted if k in self.keys]
        if not held:
            raise _RequestRefused("unknown_key", "this signer holds none of the requested keys")
        return [{"key": key, "signature": sign(self.keys[key], signable).to_text()} for key in held]


class _AuthFailed(Exception):
    pass


def _fixed(url: str) -> UrlSource:
    async def source() -> str | None:
        return url

    return source
