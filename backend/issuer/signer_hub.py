"""The signer hub: the websocket end the signing service dials into (it opens no port itself).

A connecting signer is sent a random challenge and must answer with a signature by an ndau
identity key on the allow-list (`issuer_signer_keys`); until then it can do nothing. After that
the issuer sends it `sign_request`s and waits for the matching `sign_reply`, with a timeout.
Signatures are only parsed here; the engine verifies them against the chain's validation keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backend.issuer.errors import SignerError, SignerRefused, SignerUnavailable
from backend.ndau import signer_protocol as proto
from backend.ndau.keys import NdauKeyError, PublicKey, Signature, verify
from backend.ndau.tx import IssueTx
from hashinsight_contract.issuer import SignerSessionOut, SignerStatusOut

log = logging.getLogger("hashinsight.issuer.signer_hub")

AUTH_TIMEOUT_S = 10.0


class Connection(Protocol):
    """What the hub needs from a websocket (Starlette's `WebSocket` fits)."""

    async def send_text(self, data: str) -> None: ...

    async def receive_text(self) -> str: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(eq=False)
class SignerSession:
    """One authenticated signing service connection."""

    session_id: str
    name: str
    identity: str
    keys: frozenset[str]
    remote: str
    connected_at: float
    conn: Connection
    last_seen: float = 0.0
    served: int = 0
    failed: int = 0
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.conn.send_text(proto.encode(message))

    def status(self) -> SignerSessionOut:
        return SignerSessionOut(
            session_id=self.session_id,
            name=self.name,
            identity=self.identity,
            keys=sorted(self.keys),
            remote=self.remote,
            connected_at=self.connected_at,
            last_seen=self.last_seen,
            served=self.served,
            failed=self.failed,
            pending=len(self.pending),
        )


@dataclass(frozen=True, slots=True)
class SignedBy:
    key: PublicKey
    signature: Signature


class SignerHub:
    def __init__(
        self,
        allowed: Iterable[PublicKey],
        *,
        hub_id: str = "hashinsight-issuer",
        auth_timeout_s: float = AUTH_TIMEOUT_S,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.allowed = {key.to_text(): key for key in allowed}
        self.hub_id = hub_id
        self.auth_timeout_s = auth_timeout_s
        self.sessions: dict[str, SignerSession] = {}
        self.rejected = 0
        self.last_rejection: str | None = None
        self._on_change = on_change
        self._closing = False

    # ------------------------------------------------------------------ connections

    async def serve(self, conn: Connection, remote: str = "?") -> None:
        """The whole life of one signer connection; returns when it is gone."""
        if self._closing:
            await _close(conn, 1001, "issuer shutting down")
            return
        session = await self._authenticate(conn, remote)
        if session is None:
            return
        self.sessions[session.session_id] = session
        log.info("signing service %r connected from %s", session.name, remote)
        self._changed()
        try:
            await self._read_loop(session)
        finally:
            self.sessions.pop(session.session_id, None)
            for future in session.pending.values():
                if not future.done():
                    future.set_exception(SignerUnavailable("the signing service disconnected"))
            log.info("signing service %r disconnected", session.name)
            self._changed()

    async def _authenticate(self, conn: Connection, remote: str) -> SignerSession | None:
        nonce = secrets.token_bytes(32)
        try:
            await conn.send_text(
                proto.encode(
                    {"type": proto.CHALLENGE, "nonce": proto.b64encode(nonce), "hub": self.hub_id}
                )
            )
            text = await asyncio.wait_for(conn.receive_text(), self.auth_timeout_s)
            hello = proto.decode(text)
            if hello["type"] != proto.HELLO:
                raise proto.ProtocolError("expected a hello frame answering the challenge")
            identity_text = hello.get("identity")
            if not isinstance(identity_text, str):
                raise proto.ProtocolError("hello needs an 'identity' npub")
            identity = PublicKey.from_text(identity_text)
            canonical = identity.to_text()
            if canonical not in self.allowed:
                raise _AuthRefused("identity key is not on the issuer's signer allow-list")
            signature = Signature.from_text(str(hello.get("signature", "")))
            if not verify(identity, proto.auth_message(nonce, self.hub_id), signature):
                raise _AuthRefused("challenge signature does not verify")
            keys = frozenset(
                PublicKey.from_text(k).to_text() for k in proto.str_list(hello.get("keys"), "keys")
            )
            name = str(hello.get("name") or "signer")[:60]
        except TimeoutError:
            await self._refuse(conn, "auth_timeout", "no hello within the time allowed")
            return None
        except (_AuthRefused, proto.ProtocolError, NdauKeyError) as exc:
            await self._refuse(conn, "auth_failed", str(exc))
            return None
        except Exception:  # the peer went away mid-handshake
            return None
        session = SignerSession(
            session_id=uuid.uuid4().hex[:12],
            name=name,
            identity=canonical,
            keys=keys,
            remote=remote,
            connected_at=time.time(),
            conn=conn,
            last_seen=time.time(),
        )
        try:
            await session.send(
                {"type": proto.WELCOME, "session": session.session_id, "hub": self.hub_id}
            )
        except Exception:
            return None
        return session

    async def _refuse(self, conn: Connection, code: str, message: str) -> None:
        self.rejected += 1
        self.last_rejection = message
        log.warning("signing service refused: %s", message)
        with contextlib.suppress(Exception):
            frame = {"type": proto.ERROR, "code": code, "message": message}
            await conn.send_text(proto.encode(frame))
        await _close(conn, proto.CLOSE_AUTH_FAILED, code)

    async def _read_loop(self, session: SignerSession) -> None:
        bad = 0
        while True:
            try:
                text = await session.conn.receive_text()
            except Exception:
                return
            session.last_seen = time.time()
            try:
                message = proto.decode(text)
            except proto.ProtocolError as exc:
                bad += 1
                await self._send_error(session, "bad_frame", str(exc))
                if bad > 20:
                    await _close(session.conn, proto.CLOSE_PROTOCOL, "too many bad frames")
                    return
                continue
            kind = message["type"]
            if kind == proto.SIGN_REPLY:
                future = session.pending.get(str(message.get("id")))
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == proto.PING:
                await self._send(session, {"type": proto.PONG, "ts": time.time()})
            elif kind in (proto.PONG, proto.ERROR):
                continue
            else:
                await self._send_error(session, "unknown_type", f"unknown frame type {kind!r}")

    async def _send(self, session: SignerSession, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await session.send(message)

    async def _send_error(self, session: SignerSession, code: str, message: str) -> None:
        await self._send(session, {"type": proto.ERROR, "code": code, "message": message})

    # ------------------------------------------------------------------ signing

    def _choose(self, wanted: set[str]) -> tuple[SignerSession, list[str]]:
        best: tuple[SignerSession, list[str]] | None = None
        for session in self.sessions.values():
            holds = sorted(session.keys & wanted)
            if holds and (best is None or len(holds) > len(best[1])):
                best = (session, holds)
        if best is None:
            if not self.sessions:
                raise SignerUnavailable("no signing service is connected")
            raise SignerUnavailable(
                "no connected signing service holds a validation key of the RFE account"
            )
        return best

    async def sign(
        self,
        tx: IssueTx,
        wanted: Sequence[PublicKey],
        *,
        timeout_s: float,
        context: dict[str, Any] | None = None,
    ) -> list[SignedBy]:
        """Ask a connected signer to sign `tx` with the wanted keys it holds."""
        session, keys = self._choose({k.to_text() for k in wanted})
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        session.pending[request_id] = future
        request = {
            "type": proto.SIGN_REQUEST,
            "id": request_id,
            "tx_type": "Issue",
            "tx": tx.to_json(),
            "signable_bytes": proto.b64encode(tx.signable_bytes()),
            "keys": keys,
            "context": context or {},
        }
        try:
            try:
                await session.send(request)
            except Exception:
                raise SignerUnavailable("the signing service connection broke") from None
            try:
                reply = await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                session.failed += 1
                raise SignerError(
                    f"the signing service {session.name!r} did not answer within {timeout_s:g}s"
                ) from None
        finally:
            session.pending.pop(request_id, None)
        result = self._parse_reply(session, reply, set(keys))
        session.served += 1
        return result

    def _parse_reply(
        self, session: SignerSession, reply: dict[str, Any], asked: set[str]
    ) -> list[SignedBy]:
        error = reply.get("error")
        if error is not None:
            session.failed += 1
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise SignerRefused(
                f"the signing service refused: {code or 'error'}: {str(message or '')[:200]}"
            )
        items = reply.get("signatures")
        if not isinstance(items, list) or not items:
            session.failed += 1
            raise SignerError("the signing service returned no signatures")
        result: list[SignedBy] = []
        for item in items:
            try:
                key = PublicKey.from_text(item["key"])
                signature = Signature.from_text(item["signature"])
            except (KeyError, TypeError, NdauKeyError) as exc:
                session.failed += 1
                raise SignerError(
                    f"the signing service returned a malformed signature: {exc}"
                ) from None
            if key.to_text() not in asked:
                session.failed += 1
                raise SignerError("the signing service signed with a key it was not asked for")
            result.append(SignedBy(key, signature))
        return result

    # ------------------------------------------------------------------ status

    @property
    def connected(self) -> bool:
        return bool(self.sessions)

    def status(self) -> SignerStatusOut:
        return SignerStatusOut(
            connected=self.connected,
            allowed_identities=sorted(self.allowed),
            sessions=[s.status() for s in self.sessions.values()],
            rejected=self.rejected,
            last_rejection=self.last_rejection,
        )

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    async def close(self) -> None:
        self._closing = True
        for session in list(self.sessions.values()):
            await _close(session.conn, 1001, "issuer shutting down")


class _AuthRefused(Exception):
    pass


async def _close(conn: Connection, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await conn.close(code=code, reason=reason)
