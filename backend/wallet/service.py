"""The wallet service: SIWE nonces, login checks, sessions, and the geolocated login log.

Nonce: ``issue_nonce`` builds the EIP-4361 message once and stores it verbatim with the nonce.
Login: the signature is checked against that stored text (never a rebuilt one); the nonce must
belong to the address, be unused (consumed atomically, so a replay fails), and unexpired; the
message's domain must be the one this backend answers for. Every login attempt, good or bad, is
logged with address, time, IP and (filled in shortly after, by a worker honouring IP-API's rate
limit) a geolocation; it is published on the ``wallet`` channel without the IP.

Domain and URI: the configured public origin (``public_url``, else the API's own listen address,
known once its socket is bound), or the older ``wallet_siwe_domain``/``wallet_siwe_uri``
overrides. Never the request's Host header: a phishing site relaying the API would otherwise get
messages naming itself, which the victim's wallet would then sign without warning. A nonce asked
under another Host still names our domain (it is not refused): the relay chooses the Host it
sends, so refusing would stop no attacker, only break proxies that do not forward Host; what
protects the user is that every message names our domain, which wallets compare with the page
that asks for the signature, and that a login is accepted only for a message naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import func, or_, select, update

from backend.core.audit import record_audit
from backend.core.client_ip import Network, parse_networks
from backend.core.secrets import read_private_file, write_private_file
from backend.core.service import ServiceContext
from backend.core.sliding_window import SlidingWindow
from backend.notary.signing import checksum
from backend.wallet.ipapi import Geo, IpApiClient
from backend.wallet.models import WalletLoginRow, WalletNonceRow, WalletSessionRow
from backend.wallet.settings import WalletSettings as Settings
from backend.wallet.siwe import SiweError, SiweMessage, new_nonce, parse, parse_time, rfc3339
from hashinsight_contract.wallet import (
    PRIVATE_LOGIN_FIELDS,
    WalletLoginEntry,
    WalletLoginEvent,
    WalletLoginList,
    WalletNonceOut,
)

log = logging.getLogger("hashinsight.wallet")

CHANNEL = "wallet"
STATEMENT = "Sign in to HashInsight to see your partner API keys."
SESSION_PREFIX = "hiw_"
GEO_QUEUE_SIZE = 1000


class WalletError(Exception):
    """A refused request; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SiweOrigin:
    """What every Sign-In message names: `domain` (host[:port]) and `uri` (the login page)."""

    domain: str
    uri: str


def siwe_origin(settings: Settings, listen_url: str) -> SiweOrigin:
    """The configured origin: explicit overrides, else `public_url`, else the listen address."""
    parts = urlsplit(settings.public_url or listen_url)
    domain = settings.wallet_siwe_domain or parts.netloc
    uri = settings.wallet_siwe_uri or f"{parts.scheme}://{domain}{parts.path}/login"
    return SiweOrigin(domain, uri)


@dataclass(frozen=True, slots=True)
class Session:
    address: str
    created_at: datetime
    expires_at: datetime


def login_view(row: WalletLoginRow) -> WalletLoginEntry:
    return WalletLoginEntry(
        id=row.id,
        at=rfc3339(row.at),
        address=row.address,
        ip=row.ip,
        outcome=row.outcome,
        reason=row.reason,
        user_agent=row.user_agent,
        geo_status=row.geo_status,
        geo_detail=row.geo_detail,
        country=row.country,
        country_code=row.country_code,
        region=row.region,
        city=row.city,
        lat=row.lat,
        lon=row.lon,
        isp=row.isp,
    )


def _event(view: WalletLoginEntry) -> WalletLoginEvent:
    """What the bus carries: the entry without its private fields (any stream key can subscribe)."""
    return WalletLoginEvent(**view.model_dump(exclude=set(PRIVATE_LOGIN_FIELDS)))


class WalletService:
    name: ClassVar[str] = "wallet"
    channels: ClassVar[frozenset[str]] = frozenset({CHANNEL})

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.settings = context.settings
        self.clock = context.clock
        self.origin = siwe_origin(self.settings, self.settings.api_url)
        self.trusted_proxies: tuple[Network, ...] = parse_networks(
            self.settings.wallet_trusted_proxies
        )
        per_ip, per_address = (
            self.settings.wallet_rate_per_ip_min,
            self.settings.wallet_rate_per_address_min,
        )
        self._limits = {
            ("nonce", "ip"): SlidingWindow(per_ip, 60.0, self.clock),
            ("login", "ip"): SlidingWindow(per_ip, 60.0, self.clock),
            # Charged only by a sign-in whose signature proved the address: a limit anyone could
            # spend for an address they name would lock its owner out.
            ("login", "address"): SlidingWindow(per_address, 60.0, self.clock),
        }
        self.ipapi = IpApiClient(
            context.http,
            self.settings.ipapi_url,
            per_minute=self.settings.ipapi_per_minute,
            timeout_s=min(self.settings.http_timeout_s, 10.0),
            clock=self.clock,
        )
        self._session_key: bytes = b""
        self._geo_queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(GEO_QUEUE_SIZE)
        self._tasks: list[asyncio.Task[Any]] = []

    def bind_origin(self, listen_url: str) -> None:
        """The API's actual address, once its socket is bound (port 0 picks one at start)."""
        self.origin = siwe_origin(self.context.settings, listen_url)

    async def start(self) -> None:
        host = self.context.settings.api_host
        if not self.context.settings.public_url and host in ("0.0.0.0", "::", ""):
            log.warning(
                "wallet: listening on %s without public_url: Sign-In messages name %s; set "
                "HASHINSIGHT_PUBLIC_URL to the address browsers use",
                host,
                self.origin.domain,
            )
        self._session_key = await asyncio.to_thread(self._load_session_key)
        self._tasks.append(asyncio.create_task(self._geo_worker(), name="wallet-geo"))
        self._tasks.append(asyncio.create_task(self._requeue_pending(), name="wallet-geo-resume"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _load_session_key(self) -> bytes:
        if self.settings.session_secret is not None:
            return self.settings.session_secret.get_secret_value().encode()
        path = self.settings.data_dir / "secrets" / "wallet-session.key"
        try:
            return read_private_file(path).strip()  # SecretFileError if it is too open
        except FileNotFoundError:
            value = secrets.token_hex(32).encode()
            write_private_file(path, value + b"\n")
            return value

    # --- rate limits ----------------------------------------------------------------------

    def _limit(self, action: str, kind: str, key: str) -> None:
        window = self._limits[(action, kind)]
        wait = window.retry_after(key)
        if wait is not None:
            raise WalletError(429, f"too many {action} requests; retry in {wait:.0f}s", wait)
        window.hit(key)

    # --- nonce ----------------------------------------------------------------------------

    async def issue_nonce(
        self,
        wallet_address: object,
        *,
        ip: str,
    ) -> WalletNonceOut:
        """A fresh nonce and the exact message to sign, stored together; the message names the
        configured origin, whatever the request said (see the module docstring)."""
        domain, uri = self.origin.domain, self.origin.uri
        address = _address(wallet_address)
        self._limit("nonce", "ip", ip)
        now = self.clock.now()
        expires = now + timedelta(seconds=self.settings.wallet_nonce_ttl_s)
        message = SiweMessage(
            domain=domain,
            address=address,
            uri=uri,
            chain_id=self.settings.wallet_chain_id,
            nonce=new_nonce(),
            issued_at=rfc3339(now),
            statement=STATEMENT,
            expiration_time=rfc3339(expires),
        )
        text = message.text()
        async with self.context.db.session() as session:
            session.add(
                WalletNonceRow(
                    nonce=message.nonce,
                    address=address.lower(),
                    message=text,
                    domain=domain,
                    issued_at=now,
                    expires_at=expires,
                    ip=ip,
                )
            )
        return WalletNonceOut(
            nonce=message.nonce,
            message=text,
            domain=domain,
            uri=uri,
            chain_id=message.chain_id,
            issued_at=message.issued_at,
            expires_at=rfc3339(expires),
        )

    # --- login ----------------------------------------------------------------------------

    async def login(
        self,
        *,
        wallet_address: object,
        signature: object,
        nonce: object,
        ip: str,
        user_agent: str | None,
        message: object = None,
    ) -> tuple[str, Session]:
        """Check a signed SIWE message; returns (session token, session) or raises WalletError.
        The message must name the configured domain."""
        shown = str(wallet_address)[:64] if isinstance(wallet_address, str) else None
        try:
            address = _address(wallet_address)
            shown = address
            self._limit("login", "ip", ip)
        except WalletError as exc:
            outcome = "rate_limited" if exc.status == 429 else "rejected"
            await self._log(shown, ip, outcome, exc.message, user_agent)
            raise
        try:
            await self._check(address, signature, nonce, self.origin.domain, message)
            self._limit("login", "address", address.lower())
        except WalletError as exc:
            outcome = "rate_limited" if exc.status == 429 else "rejected"
            await self._log(address, ip, outcome, exc.message, user_agent)
            raise
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        session = Session(address, now, now + timedelta(hours=self.settings.wallet_session_ttl_h))
        async with self.context.db.session() as db:
            db.add(
                WalletSessionRow(
                    token_hash=self._token_hash(token),
                    address=address.lower(),
                    created_at=now,
                    expires_at=session.expires_at,
                    ip=ip,
                )
            )
            record_audit(
                db, actor=f"wallet:{address}", action="wallet.login", target=address, source=ip
            )
        await self._log(address, ip, "ok", None, user_agent)
        return token, session

    async def _check(
        self, address: str, signature: object, nonce: object, domain: str, message: object
    ) -> None:
        if not isinstance(nonce, str) or not nonce:
            raise WalletError(400, "nonce is required")
        if not isinstance(signature, str) or not signature:
            raise WalletError(400, "signature is required")
        async with self.context.db.session() as session:
            row = await session.scalar(select(WalletNonceRow).where(WalletNonceRow.nonce == nonce))
            if row is None:
                raise WalletError(401, "unknown nonce: ask for a new one")
            if row.address != address.lower():
                raise WalletError(401, "this nonce was issued to another address")
            consumed = await session.execute(
                update(WalletNonceRow)
                .where(WalletNonceRow.id == row.id, WalletNonceRow.used_at.is_(None))
                .values(used_at=self.clock.now())
            )
            stored, expires_at = row.message, row.expires_at
        if not consumed.rowcount:  # type: ignore[attr-defined]
            raise WalletError(401, "nonce already used: a message can sign in only once")
        if self.clock.now() >= expires_at:
            raise WalletError(401, "the message has expired: ask for a new nonce")
        if message is not None and message != stored:
            raise WalletError(401, "the message differs from the one issued with this nonce")
        try:
            parsed = parse(stored)
        except SiweError as exc:  # only if the stored text was damaged
            raise WalletError(401, f"stored message is not valid EIP-4361: {exc}") from None
        if parsed.domain != domain:
            raise WalletError(401, f"the message is for {parsed.domain}, not {domain}")
        if parsed.address.lower() != address.lower() or parsed.nonce != nonce:
            raise WalletError(401, "the message does not match this address and nonce")
        now = self.clock.now()
        if parsed.not_before and now < parse_time(parsed.not_before, "Not Before"):
            raise WalletError(401, "the message is not valid yet")
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
            if len(raw) != 65:
                raise ValueError("length")
            signer = Account.recover_message(encode_defunct(text=stored), signature=raw)
        except Exception:  # malformed hex, wrong length, bad r/s/v
            raise WalletError(401, "the signature is malformed") from None
        if str(signer).lower() != address.lower():
            raise WalletError(401, "the signature was not made by this address")

    # --- sessions -------------------------------------------------------------------------

    def _token_hash(self, token: str) -> str:
        return hmac.new(self._session_key, token.encode(), hashlib.sha256).hexdigest()

    async def session(self, token: str | None) -> Session | None:
        if not token or not token.startswith(SESSION_PREFIX) or len(token) > 100:
            return None
        async with self.context.db.session() as db:
            row = await db.scalar(
                select(WalletSessionRow).where(
                    WalletSessionRow.token_hash == self._token_hash(token)
                )
            )
        if row is None or row.revoked_at is not None or row.expires_at <= self.clock.now():
            return None
        return Session(checksum(row.address), row.created_at, row.expires_at)

    async def logout(self, token: str | None) -> bool:
        if not token:
            return False
        async with self.context.db.session() as db:
            result = await db.execute(
                update(WalletSessionRow)
                .where(
                    WalletSessionRow.token_hash == self._token_hash(token),
                    WalletSessionRow.revoked_at.is_(None),
                )
                .values(revoked_at=self.clock.now())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- login log ------------------------------------------------------------------------

    async def _log(
        self, address: str | None, ip: str, outcome: str, reason: str | None, ua: str | None
    ) -> None:
        geo = self.ipapi.peek(ip)
        async with self.context.db.session() as db:
            row = WalletLoginRow(
                at=self.clock.now(),
                address=address.lower() if address else None,
                ip=ip,
                outcome=outcome,
                reason=reason[:200] if reason else None,
                user_agent=ua[:300] if ua else None,
                geo_status="pending",
            )
            if geo is not None:
                _apply_geo(row, geo)
            db.add(row)
            await db.flush()
            view = login_view(row)
        self.context.bus.emit("wallet.login", _event(view))
        if geo is None:
            try:
                self._geo_queue.put_nowait((view.id, ip))
            except asyncio.QueueFull:
                await self._set_geo(view.id, Geo("failed", "geolocation queue full"))

    async def _geo_worker(self) -> None:
        while True:
            row_id, ip = await self._geo_queue.get()
            try:
                geo = await self.ipapi.locate(ip, wait=True)
                await self._set_geo(row_id, geo)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed lookup must not stop the worker
                log.exception("wallet: geolocation of login %s failed", row_id)
            finally:
                self._geo_queue.task_done()

    async def _requeue_pending(self) -> None:
        async with self.context.db.session() as db:
            rows = await db.execute(
                select(WalletLoginRow.id, WalletLoginRow.ip)
                .where(WalletLoginRow.geo_status.in_(("pending", "rate_limited")))
                .order_by(WalletLoginRow.id.desc())
                .limit(GEO_QUEUE_SIZE // 2)
            )
            pending = list(rows)
        for row_id, ip in reversed(pending):
            if ip and not self._geo_queue.full():
                self._geo_queue.put_nowait((row_id, ip))

    async def _set_geo(self, row_id: int, geo: Geo) -> None:
        async with self.context.db.session() as db:
            row = await db.get(WalletLoginRow, row_id)
            if row is None:
                return
            _apply_geo(row, geo)
            view = login_view(row)
        self.context.bus.emit("wallet.login", _event(view))

    async def wait_geolocated(self, timeout_s: float = 10.0) -> None:
        """Until every queued lookup is done (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._geo_queue.join(), timeout_s)

    async def logins(
        self,
        *,
        address: str | None = None,
        outcome: str | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> WalletLoginList:
        filters = []
        if address:
            filters.append(WalletLoginRow.address == address.lower())
        if outcome:
            filters.append(WalletLoginRow.outcome == outcome)
        if query:
            like = f"%{query.lower()}%"
            filters.append(
                or_(
                    func.lower(WalletLoginRow.address).like(like),
                    func.lower(WalletLoginRow.ip).like(like),
                    func.lower(WalletLoginRow.country).like(like),
                    func.lower(WalletLoginRow.city).like(like),
                    func.lower(WalletLoginRow.reason).like(like),
                )
            )
        async with self.context.db.session() as db:
            total = int(
                await db.scalar(select(func.count()).select_from(WalletLoginRow).where(*filters))
                or 0
            )
            rows = await db.scalars(
                select(WalletLoginRow)
                .where(*filters)
                .order_by(WalletLoginRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return WalletLoginList(items=[login_view(row) for row in rows], total=total)


def _apply_geo(row: WalletLoginRow, geo: Geo) -> None:
    row.geo_status = geo.status
    row.geo_detail = geo.detail
    row.country = geo.country
    row.country_code = geo.country_code
    row.region = geo.region
    row.city = geo.city
    row.lat = geo.lat
    row.lon = geo.lon
    row.isp = geo.isp


def _address(value: object) -> str:
    if not isinstance(value, str):
        raise WalletError(400, "wallet_address must be a string")
    try:
        return checksum(value.strip())
    except ValueError:
        raise WalletError(400, "wallet_address is not a 0x-prefixed 20-byte hex address") from None
