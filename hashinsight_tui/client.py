"""Async Python client of the HashInsight API — what the console uses, and the partners' SDK.

    async with HashInsightClient("http://127.0.0.1:8765", api_key) as client:
        report = await client.health()
        async for event in client.stream(["health"]):
            print(event.channel, event.event, event.data)

Errors are typed: `AuthError` (401/403), `ApiError` (any other error answer, with the API's code and
message), `ConnectionLost` (no answer at all). The key is sent only in the Authorization header and
never appears in a repr or an exception.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar  # keys, partners & webhooks: Generic, TypeVar

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from backend.core.untrusted import loads

# The issuer's issues and trades are the API's own schemas: the console ships with the backend.
from hashinsight_contract.issuer import IssueDetailOut, IssueListOut, IssueOut

# A backend's answers are bounded like any input from the network: the largest real one (a
# 10,000-miner page) is a few MiB.
MAX_ANSWER_BYTES = 64 << 20

__all__ = [
    "ApiError",
    "AuthError",
    "ConnectionLost",
    "HashInsightClient",
    "HealthReport",
    "Integration",
    "KeyInfo",
    "StreamEvent",
]


def _decode(data: bytes | str) -> Any:
    """An answer or frame from the backend, parsed under the untrusted-input policy."""
    return loads(data, max_bytes=MAX_ANSWER_BYTES, what="answer")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthError(ApiError):
    """The key is missing, invalid, revoked, or lacks the scope."""


class ConnectionLost(Exception):
    """The backend did not answer (down, unreachable, or the stream dropped)."""


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    kind: str
    target: str
    status: str
    latency_ms: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    checks: int
    failures: int
    detail: str | None
    # When it was last checked and how old a check may get (older backends: None).
    last_check: float | None = None
    stale_after_s: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Integration:
        return cls(**{name: data.get(name) for name in cls.__slots__})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: str
    version: str
    started_at: float
    uptime_s: float
    mode: str
    integrations: tuple[Integration, ...]
    bus: dict[str, int]
    websocket_clients: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        return cls(
            status=data["status"],
            version=data["version"],
            started_at=data["started_at"],
            uptime_s=data["uptime_s"],
            mode=data["mode"],
            integrations=tuple(Integration.from_dict(i) for i in data["integrations"]),
            bus=dict(data["bus"]),
            websocket_clients=data["websocket_clients"],
        )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    owner_type: str
    owner_id: str | None
    scopes: tuple[str, ...]
    tier: str
    mode: str
    read_only: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyInfo:
        values = {name: data.get(name) for name in cls.__slots__}
        values["scopes"] = tuple(data.get("scopes") or ())
        return cls(**values)  # type: ignore[arg-type]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class StreamEvent:
    channel: str
    event: str
    data: dict[str, Any]
    ts: float


@dataclass
class HashInsightClient:
    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 10.0
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> HashInsightClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout_s,
                transport=self.transport,
                trust_env=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; returns decoded JSON or raises a typed error."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ConnectionLost(f"{self.base_url}: no answer within {self.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"{self.base_url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            code, message = "error", response.reason_phrase
            try:
                error = _decode(response.content)["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                pass
            kind = AuthError if response.status_code in (401, 403) else ApiError
            raise kind(response.status_code, code, message)
        if not response.content:
            return None
        return _decode(response.content)

    async def alive(self) -> bool:
        """Whether a HashInsight backend answers at this URL (no key needed)."""
        try:
            response = await self.http.get("/healthz", timeout=min(self.timeout_s, 2.0))
            return response.status_code == 200 and _decode(response.content).get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    async def health(self) -> HealthReport:
        return HealthReport.from_dict(await self.request("GET", "/api/v1/health"))

    async def check_health_now(self) -> HealthReport:
        return HealthReport.from_dict(await self.request("POST", "/api/v1/health/check"))

    async def me(self) -> KeyInfo:
        return KeyInfo.from_dict(await self.request("GET", "/api/v1/me"))

    @property
    def ws_url(self) -> str:
        base = self.base_url.rstrip("/")
        return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]) + "/ws"

    async def stream(
        self,
        channels: Iterable[str],
        filters: dict[str, Any] | None = None,
        *,
        open_timeout_s: float = 10.0,
        only_available: bool = False,
    ) -> AsyncIterator[StreamEvent]:
        """Subscribe to channels and yield their events; ConnectionLost when the stream ends."""
        try:
            async with websockets.connect(
                self.ws_url, open_timeout=open_timeout_s, max_size=2**22, ping_interval=20
            ) as ws:
                await ws.send(json.dumps({"type": "auth", "api_key": self.api_key}))
                reply = _decode(await asyncio.wait_for(ws.recv(), open_timeout_s))
                if reply.get("type") != "auth_ok":
                    raise AuthError(
                        401, reply.get("code", "unauthorized"), reply.get("message", "")
                    )
                wanted = list(channels)
                if only_available:  # skip channels this backend does not offer (older/partial)
                    offered = set(reply.get("channels") or ())
                    wanted = [c for c in wanted if c in offered]
                if wanted:
                    frame: dict[str, Any] = {"type": "subscribe", "channels": wanted}
                    if filters:
                        frame["filters"] = filters
                    await ws.send(json.dumps(frame))
                async for raw in ws:
                    message = _decode(raw)
                    kind = message.get("type")
                    if kind == "event":
                        yield StreamEvent(
                            message["channel"], message["event"], message["data"], message["ts"]
                        )
                    elif kind == "error":
                        raise ApiError(
                            400, message.get("code", "error"), message.get("message", "")
                        )
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "no reason"
            raise ConnectionLost(f"stream closed: {reason}") from None
        except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
            raise ConnectionLost(f"stream to {self.ws_url} failed: {type(exc).__name__}") from None
        raise ConnectionLost("stream ended")

    # --- notary & wallet ---

    async def notary_info(self) -> NotaryInfo:
        return NotaryInfo.from_dict(await self.request("GET", "/api/v1/notary"))

    async def notarizations(
        self, *, limit: int = 50, offset: int = 0, status: str | None = None
    ) -> NotarizationPage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        data = await self.request("GET", "/api/v1/notarizations", params=params)
        return NotarizationPage(
            tuple(Notarization.from_dict(item) for item in data["items"]), data["total"]
        )

    async def notarization(self, notarization_id: int) -> Notarization:
        path = f"/api/v1/notarizations/{int(notarization_id)}"
        return Notarization.from_dict(await self.request("GET", path))

    async def notarization_document(self, notarization_id: int) -> dict[str, Any]:
        """The canonical JSON document that was hashed, signed, pinned and anchored."""
        path = f"/api/v1/notarizations/{int(notarization_id)}/document"
        return await self.request("GET", path)  # type: ignore[no-any-return]

    async def request_notarization(self, period_hours: float | None = None) -> Notarization:
        body = {"period_hours": period_hours} if period_hours else {}
        return Notarization.from_dict(
            await self.request("POST", "/api/v1/notarizations", json=body)
        )

    async def verify_notarization(self, notarization_id: int) -> Verification:
        path = f"/api/v1/notarizations/{int(notarization_id)}/verify"
        return Verification.from_dict(await self.request("POST", path))

    async def retry_notarization(self, notarization_id: int) -> Notarization:
        path = f"/api/v1/notarizations/{int(notarization_id)}/retry"
        return Notarization.from_dict(await self.request("POST", path))

    async def wallet_logins(
        self,
        *,
        address: str | None = None,
        outcome: str | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> WalletLoginPage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for name, value in (("address", address), ("outcome", outcome), ("q", query)):
            if value:
                params[name] = value
        data = await self.request("GET", "/api/v1/wallet/logins", params=params)
        return WalletLoginPage(
            tuple(WalletLogin.from_dict(item) for item in data["items"]), data["total"]
        )

    # --- end notary & wallet ---

    # --- market & chain ---

    async def price_current(self) -> PriceNow:
        return PriceNow.from_dict(await self.request("GET", "/api/v1/prices/current"))

    async def price_history(self, period: str = "1d") -> PriceHistory:
        data = await self.request("GET", "/api/v1/prices/history", params={"period": period})
        return PriceHistory.from_dict(data)

    async def exchanges(self) -> ExchangesView:
        return ExchangesView.from_dict(await self.request("GET", "/api/v1/exchanges"))

    async def network_stats(self) -> NetworkStats:
        return NetworkStats.from_dict(await self.request("GET", "/api/v1/network/stats"))

    async def network_blocks(self) -> ChainBlocks:
        return ChainBlocks.from_dict(await self.request("GET", "/api/v1/network/blocks"))

    async def hashrate_history(self, period: str = "1m") -> HashrateHistory:
        data = await self.request("GET", "/api/v1/network/hashrate", params={"period": period})
        return HashrateHistory.from_dict(data)

    # --- end market & chain ---

    # --- fleet ---
    # Plain dicts in the shapes of the fleet API contract (docs: /api/v1/docs, tag "fleet").

    async def miners(
        self,
        *,
        site: str | None = None,
        status: str | None = None,
        model: str | None = None,
        q: str | None = None,
        sort: str = "id",
        order: str = "asc",
        limit: int = 100,
        offset: int = 0,
        fields: str | None = None,
    ) -> dict[str, Any]:
        """{"items": [miner...], "total", "limit", "offset"}; fields="summary" omits
        boards and pools."""
        params: dict[str, Any] = {"sort": sort, "order": order, "limit": limit, "offset": offset}
        for name, value in (
            ("site", site),
            ("status", status),
            ("model", model),
            ("q", q),
            ("fields", fields),
        ):
            if value is not None:
                params[name] = value
        return await self.request("GET", "/api/v1/miners", params=params)

    async def fleet_summary(self) -> dict[str, Any]:
        return await self.request("GET", "/api/v1/fleet/summary")

    async def miner(self, miner_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/api/v1/miners/{_quote(miner_id)}")

    async def miner_history(self, miner_id: str, period: str = "1h") -> dict[str, Any]:
        path = f"/api/v1/miners/{_quote(miner_id)}/history"
        return await self.request("GET", path, params={"period": period})

    async def miner_command(
        self, miner_id: str, command: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """{"command_id", "state", "result", "miner_id", ...}; state "pending_approval" for
        semi-auto keys."""
        body = {"command": command, "params": params or {}}
        path = f"/api/v1/miners/{_quote(miner_id)}/commands"
        return await self.request("POST", path, json=body)

    async def bulk_command(
        self, miner_ids: Iterable[str], command: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """{"results": [command...]}, one per miner in the order given."""
        body = {"miner_ids": list(miner_ids), "command": command, "params": params or {}}
        return await self.request("POST", "/api/v1/miners/commands", json=body)

    async def fleet_credentials(self) -> dict[str, Any]:
        """{"items": [{"scope", "target", "kind", "user", "password": "********"|None, "port",
        ...}], "defaults": {kind: words}} (admin keys)."""
        return await self.request("GET", "/api/v1/fleet/credentials")

    async def set_fleet_credentials(
        self,
        scope: str,
        target: str,
        kind: str,
        *,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> dict[str, Any]:
        """Store control credentials for a site or a miner (admin keys); answered masked."""
        body = {"scope": scope, "target": target, "kind": kind, "user": user}
        body |= {"password": password, "port": port}
        return await self.request("PUT", "/api/v1/fleet/credentials", json=body)

    async def remove_fleet_credentials(self, scope: str, target: str, kind: str) -> None:
        path = f"/api/v1/fleet/credentials/{_quote(scope)}/{_quote(kind)}"
        await self.request("DELETE", path, params={"target": target})

    async def alerts(
        self,
        *,
        state: str | None = None,
        miner_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state is not None:
            params["state"] = state
        if miner_id is not None:
            params["miner_id"] = miner_id
        return await self.request("GET", "/api/v1/alerts", params=params)

    async def acknowledge_alert(self, alert_id: int, reason: str | None = None) -> dict[str, Any]:
        """Acknowledge a raised alert; the optional reason (what is being done) is shown to
        every console and audited."""
        body = {"reason": reason} if reason else None
        path = f"/api/v1/alerts/{int(alert_id)}/acknowledge"
        return await self.request("POST", path, json=body)

    async def silence_alert(self, alert_id: int, minutes: float, reason: str) -> dict[str, Any]:
        """Silence an open alert for `minutes` (0 lifts the silence); the reason is audited."""
        body = {"minutes": minutes, "reason": reason}
        return await self.request("POST", f"/api/v1/alerts/{int(alert_id)}/silence", json=body)

    async def alert_routing(self) -> dict[str, Any]:
        """Where alerts go besides the consoles: email recipients and partner webhooks."""
        return await self.request("GET", "/api/v1/alerts/routing")

    async def open_alerts(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every alert not cleared yet (raised and acknowledged), newest first."""
        items: list[dict[str, Any]] = []
        for state in ("raised", "acknowledged"):
            items += (await self.alerts(state=state, limit=limit))["items"]
        return sorted(items, key=lambda a: a.get("raised_at") or 0, reverse=True)

    async def fleet_commands(
        self, state: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        """The command log, newest first; state="pending_approval" is the approval queue."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state is not None:
            params["state"] = state
        return await self.request("GET", "/api/v1/fleet/commands", params=params)

    async def approve_command(self, command_id: str, reason: str) -> dict[str, Any]:
        path = f"/api/v1/fleet/commands/{_quote(command_id)}/approve"
        return await self.request("POST", path, json={"reason": reason})

    async def reject_command(self, command_id: str, reason: str) -> dict[str, Any]:
        path = f"/api/v1/fleet/commands/{_quote(command_id)}/reject"
        return await self.request("POST", path, json={"reason": reason})

    # --- end fleet ---

    # --- issuer ---

    async def issuer_status(self) -> IssuerStatus:
        """Bitmart poll, cursor, signer, node and RFE sequence, totals, lease holder."""
        return IssuerStatus.from_dict(await self.request("GET", "/api/v1/issuer/status"))

    async def issuer_issues(
        self, states: Iterable[str] = (), *, limit: int = 100, before_id: int | None = None
    ) -> IssueListOut:
        """Issues newest first; `states` filters (e.g. ["awaiting_approval"])."""
        params: dict[str, Any] = {"limit": limit}
        if states:
            params["state"] = ",".join(states)
        if before_id is not None:
            params["before_id"] = before_id
        data = await self.request("GET", "/api/v1/issuer/issues", params=params)
        return IssueListOut.model_validate(data)

    async def issuer_issue(self, issue_id: int) -> IssueDetailOut:
        """One issue with the Bitmart trades it covers and its signed tx."""
        return IssueDetailOut.model_validate(
            await self.request("GET", f"/api/v1/issuer/issues/{int(issue_id)}")
        )

    async def approve_issue(self, issue_id: int, reason: str | None = None) -> IssueOut:
        """Needs the issuer:approve scope; audited with who, when and why."""
        path = f"/api/v1/issuer/issues/{int(issue_id)}/approve"
        return IssueOut.model_validate(
            await self.request("POST", path, json={"reason": reason or None})
        )

    async def reject_issue(self, issue_id: int, reason: str) -> IssueOut:
        """Needs the issuer:approve scope and a reason (at least 3 characters)."""
        path = f"/api/v1/issuer/issues/{int(issue_id)}/reject"
        return IssueOut.model_validate(await self.request("POST", path, json={"reason": reason}))

    async def retry_issue(self, issue_id: int, reason: str | None = None) -> IssueOut:
        path = f"/api/v1/issuer/issues/{int(issue_id)}/retry"
        return IssueOut.model_validate(
            await self.request("POST", path, json={"reason": reason or None})
        )

    async def start_issuer(self, start: str = "now") -> IssuerStatus:
        """The very first starting point: "now" or an ISO-8601 time with a timezone."""
        data = await self.request("POST", "/api/v1/issuer/start", json={"start": start})
        return IssuerStatus.from_dict(data)

    async def issuer_reconciliation(
        self, start: str | None = None, end: str | None = None, *, live: bool = False
    ) -> Reconciliation:
        """Bitmart sales vs issued for [start, end) (ISO-8601; default: the last 24 hours)."""
        params: dict[str, Any] = {"live": "true" if live else "false"}
        if start:
            params["start"] = start
        if end:
            params["end"] = end
        data = await self.request("GET", "/api/v1/issuer/reconciliation", params=params)
        return Reconciliation.from_dict(data)

    # --- end issuer ---

    # --- keys, partners & webhooks ---
    # Calls here retry a 429 after its Retry-After (up to `max_rate_wait_s`) and a lost
    # connection once for reads; `rate_limit` holds the limits the last answer reported.

    async def _call(
        self, method: str, path: str, *, max_rate_wait_s: float = 30.0, **kwargs: Any
    ) -> Any:
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                if method == "GET" and attempts < 2:
                    continue
                raise ConnectionLost(
                    f"{self.base_url}: no answer within {self.timeout_s:g}s"
                ) from None
            except httpx.HTTPError as exc:
                if method == "GET" and attempts < 2:
                    continue
                raise ConnectionLost(f"{self.base_url}: {type(exc).__name__}") from None
            limits = RateLimitState.from_headers(response.headers)
            if limits is not None:
                self.rate_limit = limits  # type: ignore[attr-defined]
            if response.status_code == 429 and attempts < 4:
                wait = float(response.headers.get("retry-after") or 1)
                if wait <= max_rate_wait_s:
                    await asyncio.sleep(wait)
                    continue
            if response.status_code >= 400:
                code, message = "error", response.reason_phrase
                try:
                    error = _decode(response.content)["error"]
                    code, message = error["code"], error["message"]
                except (ValueError, KeyError, TypeError):
                    pass
                kind = AuthError if response.status_code in (401, 403) else ApiError
                raise kind(response.status_code, code, message)
            if not response.content:
                return None
            return _decode(response.content)

    def last_rate_limit(self) -> RateLimitState | None:
        """The key's limits as the last answer of these calls reported them."""
        return getattr(self, "rate_limit", None)

    async def list_keys(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> Page[ManagedKey]:
        params = {"include_revoked": str(include_revoked).lower(), "limit": limit, "offset": offset}
        return Page.of(await self._call("GET", "/api/v1/keys", params=params), ManagedKey)

    async def create_key(
        self,
        name: str,
        scopes: Iterable[str] = ("read",),
        *,
        owner_type: str = "operator",
        partner_id: str | None = None,
        tier: str | None = None,
        mode: str = "auto",
        expires_in_days: float | None = None,
    ) -> CreatedKey:
        body: dict[str, Any] = {
            "name": name,
            "scopes": list(scopes),
            "owner_type": owner_type,
            "mode": mode,
        }
        for name_, value in (
            ("partner_id", partner_id),
            ("tier", tier),
            ("expires_in_days", expires_in_days),
        ):
            if value is not None:
                body[name_] = value
        return CreatedKey.from_dict(await self._call("POST", "/api/v1/keys", json=body))

    async def get_key(self, key_id: str) -> ManagedKey:
        return ManagedKey.from_dict(await self._call("GET", f"/api/v1/keys/{key_id}"))

    async def update_key(self, key_id: str, **changes: Any) -> ManagedKey:
        body = {k: v for k, v in changes.items() if v is not None}
        data = await self._call("PATCH", f"/api/v1/keys/{key_id}", json=body)
        return ManagedKey.from_dict(data)

    async def set_key_mode(self, key_id: str, mode: str) -> ManagedKey:
        return await self.update_key(key_id, mode=mode)

    async def revoke_key(self, key_id: str) -> ManagedKey:
        return ManagedKey.from_dict(await self._call("DELETE", f"/api/v1/keys/{key_id}"))

    async def reveal_key(self, key_id: str) -> str:
        return str((await self._call("POST", f"/api/v1/keys/{key_id}/reveal"))["api_key"])

    async def key_usage(self, key_id: str, limit: int = 168) -> list[dict[str, Any]]:
        data = await self._call("GET", f"/api/v1/keys/{key_id}/usage", params={"limit": limit})
        return list(data["items"])

    async def limits(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/api/v1/limits"))

    async def partners(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[Partner]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return Page.of(await self._call("GET", "/api/v1/partners", params=params), Partner)

    async def register_partner(
        self, name: str, *, tier: str = "basic", **fields: Any
    ) -> PartnerRegistration:
        body = {"name": name, "tier": tier, **{k: v for k, v in fields.items() if v is not None}}
        data = await self._call("POST", "/api/v1/partners/register", json=body)
        return PartnerRegistration.from_dict(data)

    async def partner(self, partner_id: str) -> Partner:
        return Partner.from_dict(await self._call("GET", f"/api/v1/partners/{partner_id}"))

    async def update_partner(self, partner_id: str, **fields: Any) -> Partner:
        body = {k: v for k, v in fields.items() if v is not None}
        data = await self._call("PATCH", f"/api/v1/partners/{partner_id}", json=body)
        return Partner.from_dict(data)

    async def suspend_partner(self, partner_id: str) -> Partner:
        data = await self._call("POST", f"/api/v1/partners/{partner_id}/suspend")
        return Partner.from_dict(data)

    async def resume_partner(self, partner_id: str) -> Partner:
        data = await self._call("POST", f"/api/v1/partners/{partner_id}/resume")
        return Partner.from_dict(data)

    async def delete_partner(self, partner_id: str) -> Partner:
        return Partner.from_dict(await self._call("DELETE", f"/api/v1/partners/{partner_id}"))

    async def rotate_partner_secret(self, partner_id: str) -> str:
        data = await self._call("POST", f"/api/v1/partners/{partner_id}/secret")
        return str(data["api_secret"])

    async def partner_keys(self, partner_id: str) -> Page[ManagedKey]:
        data = await self._call("GET", f"/api/v1/partners/{partner_id}/keys")
        return Page.of(data, ManagedKey)

    async def new_partner_key(
        self, partner_id: str, *, name: str | None = None, scopes: Iterable[str] | None = None
    ) -> CreatedKey:
        body: dict[str, Any] = {}
        if name:
            body["name"] = name
        if scopes is not None:
            body["scopes"] = list(scopes)
        data = await self._call("POST", f"/api/v1/partners/{partner_id}/keys", json=body)
        return CreatedKey.from_dict(data)

    async def webhook_event_types(self) -> list[dict[str, str]]:
        return list((await self._call("GET", "/api/v1/webhooks/event-types"))["items"])

    async def webhooks(
        self, *, partner_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[Webhook]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if partner_id:
            params["partner_id"] = partner_id
        return Page.of(await self._call("GET", "/api/v1/webhooks", params=params), Webhook)

    async def create_webhook(
        self,
        url: str,
        event_types: Iterable[str],
        *,
        description: str | None = None,
        partner_id: str | None = None,
    ) -> Webhook:
        body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
        if description:
            body["description"] = description
        if partner_id:
            body["partner_id"] = partner_id
        return Webhook.from_dict(await self._call("POST", "/api/v1/webhooks", json=body))

    async def update_webhook(self, webhook_id: str, **changes: Any) -> Webhook:
        body = {k: v for k, v in changes.items() if v is not None}
        data = await self._call("PATCH", f"/api/v1/webhooks/{webhook_id}", json=body)
        return Webhook.from_dict(data)

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._call("DELETE", f"/api/v1/webhooks/{webhook_id}")

    async def test_webhook(self, webhook_id: str) -> Delivery:
        data = await self._call("POST", f"/api/v1/webhooks/{webhook_id}/test")
        return Delivery.from_dict(data)

    async def webhook_deliveries(
        self, webhook_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[Delivery]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        data = await self._call("GET", f"/api/v1/webhooks/{webhook_id}/deliveries", params=params)
        return Page.of(data, Delivery)

    async def export_datasets(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/api/v1/exports/datasets"))["items"])

    async def create_export(
        self,
        dataset: str,
        *,
        fmt: str = "json",
        gzip: bool = False,
        start: str | None = None,
        end: str | None = None,
    ) -> ExportJob:
        body: dict[str, Any] = {"dataset": dataset, "format": fmt, "gzip": gzip}
        if start:
            body["start"] = start
        if end:
            body["end"] = end
        return ExportJob.from_dict(await self._call("POST", "/api/v1/exports", json=body))

    async def export(self, export_id: str) -> ExportJob:
        return ExportJob.from_dict(await self._call("GET", f"/api/v1/exports/{export_id}"))

    async def exports(self, *, limit: int = 50, offset: int = 0) -> Page[ExportJob]:
        data = await self._call("GET", "/api/v1/exports", params={"limit": limit, "offset": offset})
        return Page.of(data, ExportJob)

    async def wait_export(self, export_id: str, *, timeout_s: float = 600.0) -> ExportJob:
        """Poll an export until it is completed, failed or expired."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.2
        while True:
            job = await self.export(export_id)
            if job.status not in ("queued", "running"):
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise ConnectionLost(f"export {export_id} still {job.status} after {timeout_s:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    async def download_export(self, export_id: str, destination: str) -> int:
        """Stream a completed export to a file (never all in memory); returns bytes written."""
        written = 0
        async with self.http.stream("GET", f"/api/v1/exports/{export_id}/download") as response:
            if response.status_code >= 400:
                await response.aread()
                try:
                    error = _decode(response.content)["error"]
                    code, message = error["code"], error["message"]
                except (ValueError, KeyError, TypeError):
                    code, message = "error", response.reason_phrase
                raise ApiError(response.status_code, code, message)
            with open(destination, "wb") as handle:  # noqa: ASYNC230 - small sequential writes
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
        return written

    async def delete_export(self, export_id: str) -> None:
        await self._call("DELETE", f"/api/v1/exports/{export_id}")

    async def metrics(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/api/v1/analytics/metrics"))["items"])

    async def historical(
        self, metric: str, period: str = "1d", *, start: str | None = None, end: str | None = None
    ) -> Historical:
        params: dict[str, Any] = {"metric": metric, "period": period}
        if start:
            params["start"] = start
        if end:
            params["end"] = end
        data = await self._call("GET", "/api/v1/analytics/historical", params=params)
        return Historical.from_dict(data)

    async def raw(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        api_key: str | None = None,
    ) -> RawExchange:
        """One request exactly as given (the Playground): status, headers, timing, body."""
        merged = dict(headers or {})
        if api_key is not None:
            merged["Authorization"] = f"Bearer {api_key}"
        started = asyncio.get_running_loop().time()
        try:
            response = await self.http.request(method, url, headers=merged, content=content)
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"{url}: {type(exc).__name__}") from None
        elapsed_ms = (asyncio.get_running_loop().time() - started) * 1000
        return RawExchange(
            status=response.status_code,
            reason=response.reason_phrase,
            headers=tuple(response.headers.items()),
            body=response.content,
            elapsed_ms=elapsed_ms,
        )

    # --- end keys, partners & webhooks ---


def _quote(segment: str) -> str:  # fleet: ids such as "[fd00::7]:4028" in a URL path
    from urllib.parse import quote

    return quote(segment, safe=":[]")


# --- notary & wallet DTOs ---


def _fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in cls.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class NotarizationStep:
    name: str
    state: str  # pending | running | retrying | done | failed
    at: str | None
    detail: str | None
    error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotarizationStep:
        return cls(**_fields(cls, data))


@dataclass(frozen=True, slots=True)
class Notarization:
    id: int
    created_at: str
    updated_at: str
    trigger: str
    requested_by: str
    period_start: str
    period_end: str
    status: str  # running | completed | failed
    step: str | None
    steps: tuple[NotarizationStep, ...]
    attempts: int
    error: str | None
    hash: str | None
    signature: str | None
    signer: str | None
    cid: str | None
    pin_provider: str | None
    pin_size: int | None
    chain: str | None
    chain_id: str | None
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    document_size: int | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notarization:
        values = _fields(cls, data)
        values["steps"] = tuple(NotarizationStep.from_dict(s) for s in data.get("steps") or ())
        return cls(**values)

    def step_state(self, name: str) -> str:
        return next((s.state for s in self.steps if s.name == name), "pending")


@dataclass(frozen=True, slots=True)
class NotarizationPage:
    items: tuple[Notarization, ...]
    total: int


@dataclass(frozen=True, slots=True)
class VerificationCheck:
    step: str
    ok: bool | None  # None: could not be checked (the detail says why)
    detail: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationCheck:
        return cls(**_fields(cls, data))


@dataclass(frozen=True, slots=True)
class Verification:
    id: int
    ok: bool
    failed_step: str | None
    checks: tuple[VerificationCheck, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        checks = tuple(VerificationCheck.from_dict(c) for c in data.get("checks") or ())
        return cls(data["id"], bool(data["ok"]), data.get("failed_step"), checks)


@dataclass(frozen=True, slots=True)
class NotaryInfo:
    enabled: bool
    signer: str | None
    chain: str | None
    chain_target: str | None
    pin_provider: str
    schedule_utc: str
    period_hours: float
    confirmations: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotaryInfo:
        return cls(**_fields(cls, data))


@dataclass(frozen=True, slots=True)
class WalletLogin:
    id: int
    at: str
    address: str | None
    ip: str | None
    outcome: str  # ok | rejected | rate_limited
    reason: str | None
    user_agent: str | None
    geo_status: str  # pending | ok | skipped | failed | rate_limited
    geo_detail: str | None
    country: str | None
    country_code: str | None
    region: str | None
    city: str | None
    lat: float | None
    lon: float | None
    isp: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalletLogin:
        return cls(**_fields(cls, data))


@dataclass(frozen=True, slots=True)
class WalletLoginPage:
    items: tuple[WalletLogin, ...]
    total: int


# --- end notary & wallet DTOs ---


# --- market & chain DTOs ---
# Every value carries `source` (provider, or "computed"), `as_of` (epoch s, provider time),
# `age_s` and `stale` as the backend saw them when it answered; `via` is "live" or "cache".


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in cls.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ProviderAttempt:
    source: str
    ok: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class PriceNow:
    price_usd: float
    change_24h_pct: float | None  # percent; None when the source gives none
    volume_24h_usd: float | None
    market_cap_usd: float | None
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    attempts: tuple[ProviderAttempt, ...]
    fallback_order: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceNow:
        values = _pick(cls, data)
        values["attempts"] = tuple(
            ProviderAttempt(a["source"], bool(a["ok"]), a.get("error"))
            for a in data.get("attempts") or ()
        )
        values["fallback_order"] = tuple(data.get("fallback_order") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PriceHistory:
    period: str
    points: tuple[tuple[float, float], ...]  # (epoch s, USD)
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceHistory:
        values = _pick(cls, data)
        values["points"] = tuple((p["t"], p["price_usd"]) for p in data.get("points") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Venue:
    venue: str
    status: str  # ok | error | unknown
    error: str | None
    latency_ms: float | None
    checked_at: float | None
    instrument: str | None
    quote: str | None  # currency `price` is in (USD or USDT)
    price: float | None
    change_24h_pct: float | None
    volume_24h_btc: float | None
    volume_24h_quote: float | None
    bid: float | None
    ask: float | None
    index_price_usd: float | None
    as_of: float | None
    age_s: float | None
    stale: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Venue:
        return cls(**_pick(cls, data))


@dataclass(frozen=True, slots=True)
class ExchangeAggregate:
    venues_total: int
    venues_ok: int
    completeness_pct: float
    venues_in_aggregate: tuple[str, ...]
    total_volume_btc: float | None
    total_volume_usd: float | None
    vwap_usd: float | None
    spread_usd: float | None
    spread_pct: float | None
    high_venue: str | None
    low_venue: str | None
    as_of: float | None
    source: str | None
    note: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExchangeAggregate:
        values = _pick(cls, data)
        values["venues_in_aggregate"] = tuple(data.get("venues_in_aggregate") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ExchangesView:
    venues: tuple[Venue, ...]
    aggregate: ExchangeAggregate
    checked_at: float | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExchangesView:
        return cls(
            venues=tuple(Venue.from_dict(v) for v in data.get("venues") or ()),
            aggregate=ExchangeAggregate.from_dict(data["aggregate"]),
            checked_at=data.get("checked_at"),
        )


@dataclass(frozen=True, slots=True)
class SourcedValue:
    value: float
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    blocks: int | None = None  # for averages: how many blocks

    @classmethod
    def from_dict(cls, data: dict[str, Any], value_key: str = "value") -> SourcedValue:
        values = _pick(cls, data)
        values["value"] = data[value_key]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NextAdjustment:
    estimated_change_pct: float  # percent; positive means harder
    remaining_blocks: int
    estimated_date: float
    next_retarget_height: int
    progress_pct: float | None
    avg_block_time_s: float | None
    method: str
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NextAdjustment:
        return cls(**_pick(cls, data))


@dataclass(frozen=True, slots=True)
class Hashprice:
    usd_per_th_day: float
    btc_per_th_day: float
    block_height: int
    halvings: int
    block_subsidy_btc: float
    avg_fees_per_block_btc: float
    blocks_per_day: float
    price_usd: float
    network_hashrate_hs: float
    formula: str
    inputs: dict[str, SourcedValue]
    as_of: float
    stale: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hashprice:
        values = _pick(cls, data)
        values["inputs"] = {
            name: SourcedValue.from_dict(item) for name, item in (data.get("inputs") or {}).items()
        }
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NetworkStats:
    hashrate_hs: float
    hashrate_ehs: float
    difficulty: float
    tip_height: int
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    attempts: tuple[ProviderAttempt, ...]
    fallback_order: tuple[str, ...]
    tip: SourcedValue
    next_adjustment: NextAdjustment | None
    fees: SourcedValue | None  # mean fees per block, BTC
    hashprice_usd_per_th_day: float | None
    hashprice: Hashprice | None
    hashprice_unavailable: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkStats:
        values = _pick(cls, data)
        values["attempts"] = tuple(
            ProviderAttempt(a["source"], bool(a["ok"]), a.get("error"))
            for a in data.get("attempts") or ()
        )
        values["fallback_order"] = tuple(data.get("fallback_order") or ())
        values["tip"] = SourcedValue.from_dict(data["tip"], "height")
        adjustment = data.get("next_adjustment")
        values["next_adjustment"] = NextAdjustment.from_dict(adjustment) if adjustment else None
        fees = data.get("fees")
        values["fees"] = SourcedValue.from_dict(fees, "avg_fees_per_block_btc") if fees else None
        hashprice = data.get("hashprice")
        values["hashprice"] = Hashprice.from_dict(hashprice) if hashprice else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ChainBlock:
    height: int
    hash: str
    timestamp: float
    tx_count: int | None
    size_bytes: int | None
    total_fees_btc: float | None
    reward_btc: float | None
    median_fee_rate: float | None  # sat/vB
    pool: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainBlock:
        return cls(**_pick(cls, data))


@dataclass(frozen=True, slots=True)
class ChainBlocks:
    blocks: tuple[ChainBlock, ...]
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainBlocks:
        values = _pick(cls, data)
        values["blocks"] = tuple(ChainBlock.from_dict(b) for b in data.get("blocks") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class HashrateHistory:
    period: str
    points: tuple[tuple[float, float], ...]  # (epoch s, EH/s)
    source: str
    as_of: float
    age_s: float
    stale: bool
    via: str
    error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HashrateHistory:
        values = _pick(cls, data)
        values["points"] = tuple((p["t"], p["hashrate_ehs"]) for p in data.get("points") or ())
        return cls(**values)


# --- end market & chain DTOs ---


# --- issuer DTOs ---
# Money is exact text (napu and ndau strings), never a float.


@dataclass(frozen=True, slots=True)
class IssuerStatus:
    """The issuer status; nested parts stay plain dicts (see the API's IssuerStatusOut)."""

    enabled: bool
    configured: bool
    running: bool
    problems: tuple[str, ...]
    mode: str
    symbol: str
    needs_start: bool
    cursor: dict[str, Any] | None
    bitmart: dict[str, Any]
    signer: dict[str, Any]
    node: dict[str, Any]
    lease: dict[str, Any]
    totals: dict[str, Any]
    awaiting_approval: int
    overdue_approvals: int
    blocked: str | None
    pipeline_error: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IssuerStatus:
        values = {name: data.get(name) for name in cls.__slots__}  # type: ignore[attr-defined]
        values["problems"] = tuple(data.get("problems") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    start: str
    end: str
    started_from: str | None
    scanned_until: str | None
    complete: bool
    recorded_sales: dict[str, str]
    trades: int
    issued: dict[str, str]
    rejected: dict[str, str]
    pending: dict[str, str]
    difference: dict[str, str]
    by_state: dict[str, Any]
    bitmart_sales: dict[str, str] | None
    unrecorded: dict[str, str] | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reconciliation:
        return cls(**{name: data.get(name) for name in cls.__slots__})  # type: ignore[arg-type]


# --- end issuer DTOs ---


# --- keys, partners & webhooks DTOs ---

_T = TypeVar("_T")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in cls.__dataclass_fields__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Page(Generic[_T]):
    items: tuple[_T, ...]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, data: dict[str, Any], item: Any) -> Page[Any]:
        items = tuple(item.from_dict(i) for i in data.get("items", ()))
        return cls(
            items,
            int(data.get("total", len(items))),
            int(data.get("limit") or 0),
            int(data.get("offset") or 0),
        )


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the last answer said about the key's limits (X-RateLimit-*)."""

    limit: int
    remaining: int
    reset: int  # unix epoch seconds
    policy: str

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> RateLimitState | None:
        try:
            return cls(
                int(headers["x-ratelimit-limit"]),
                int(headers["x-ratelimit-remaining"]),
                int(headers["x-ratelimit-reset"]),
                headers.get("ratelimit-policy", ""),
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class ManagedKey:
    key_id: str
    name: str
    owner_type: str
    owner_id: str | None
    scopes: tuple[str, ...]
    tier: str
    mode: str
    read_only: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    suspended_at: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManagedKey:
        values = _known(cls, data)
        values["scopes"] = tuple(data.get("scopes") or ())
        return cls(**values)

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.suspended_at:
            return "suspended"
        return "active"


@dataclass(frozen=True, slots=True, repr=False)
class CreatedKey:
    key: ManagedKey
    api_key: str  # shown once: store it now

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreatedKey:
        return cls(ManagedKey.from_dict(data["key"]), str(data["api_key"]))

    def __repr__(self) -> str:
        return f"CreatedKey(key_id={self.key.key_id!r}, api_key=<hidden>)"


@dataclass(frozen=True, slots=True)
class Partner:
    partner_id: str
    name: str
    description: str | None
    website: str | None
    contact: str | None
    integration_type: str | None
    tier: str
    status: str
    created_at: str
    updated_at: str
    suspended_at: str | None
    deleted_at: str | None
    active_keys: int | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partner:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True, repr=False)
class PartnerRegistration:
    partner: Partner
    key_id: str
    api_key: str
    api_secret: str
    rate_limits: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartnerRegistration:
        return cls(
            Partner.from_dict(data["partner"]),
            str(data["key_id"]),
            str(data["api_key"]),
            str(data["api_secret"]),
            dict(data["rate_limits"]),
        )

    def __repr__(self) -> str:
        return f"PartnerRegistration(partner_id={self.partner.partner_id!r}, secrets=<hidden>)"


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    partner_id: str
    url: str
    event_types: tuple[str, ...]
    description: str | None
    status: str
    disabled_reason: str | None
    consecutive_failures: int
    created_at: str
    updated_at: str
    last_success_at: str | None
    last_failure_at: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Webhook:
        values = _known(cls, data)
        values["event_types"] = tuple(data.get("event_types") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: str
    partner_id: str
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: float | None
    attempt_log: tuple[dict[str, Any], ...]
    created_at: str
    delivered_at: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        values = _known(cls, data)
        values["attempt_log"] = tuple(data.get("attempt_log") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ExportJob:
    export_id: str
    dataset: str
    format: str
    gzip: bool
    start: str | None
    end: str | None
    status: str
    rows: int
    size_bytes: int | None
    estimated_size: int | None
    error: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    expires_at: str
    status_url: str
    download_url: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportJob:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class Historical:
    metric: str
    unit: str
    period: str
    interval_s: int
    start: float
    end: float
    source: str
    count: int
    points: tuple[tuple[float, float], ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Historical:
        values = _known(cls, data)
        values["points"] = tuple((p["t"], p["value"]) for p in data.get("points") or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RawExchange:
    """One Playground request's answer."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed_ms: float

    def json(self) -> Any:
        return _decode(self.body)


# --- end keys, partners & webhooks DTOs ---
