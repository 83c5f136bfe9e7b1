"""Dependencies shared by the routers: the backend, the caller's key, scope checks.

Every authenticated request goes through `current_key`: a key in the query string is refused, a
blocked address is refused, a bad key is counted against its address (and answered slowly once it
keeps failing), and a good key is counted against its tier's rate limits.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request

from backend.api.errors import ApiError
from backend.auth.access import ApiAccessService
from backend.auth.service import ChecksBusy, KeyInfo
from backend.core.client_ip import Network, client_ip, parse_networks

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from backend.api.host import ApiHost

QUERY_KEY_NAMES = {"api_key", "apikey", "key", "token", "access_token"}


def get_backend(request: Request) -> ApiHost:
    host: ApiHost = request.app.state.backend  # set by create_app
    return host


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def access_service(backend: ApiHost) -> ApiAccessService | None:
    service = backend.services_by_name.get("api_access")
    return service if isinstance(service, ApiAccessService) else None


@functools.lru_cache(maxsize=8)
def _trusted(text: str) -> tuple[Network, ...]:
    """The parsed `api_trusted_proxies` (parsed once per distinct setting, not per request)."""
    return parse_networks(text)


def caller_address(connection: HTTPConnection, backend: ApiHost) -> str:
    """The client's address (X-Forwarded-For only from `api_trusted_proxies`)."""
    peer = connection.client.host if connection.client else None
    trusted = _trusted(backend.settings.api_trusted_proxies)
    if not trusted:  # no proxy is trusted: the header is never read
        return client_ip(peer, None, trusted)
    return client_ip(peer, connection.headers.get("x-forwarded-for"), trusted)


async def verify_for(connection: HTTPConnection, backend: ApiHost, token: str) -> KeyInfo | None:
    """Verify a key on behalf of a client, with the failed-auth throttle around it."""
    access = access_service(backend)
    address = caller_address(connection, backend)
    if access is not None:
        blocked = access.blocked_for(address)
        if blocked is not None:
            raise ApiError(
                429,
                "too many failed authentications from this address; try again later",
                code="auth_blocked",
                headers={"Retry-After": str(max(1, int(blocked + 0.999)))},
            )
    try:
        if access is None or not backend.auth.needs_check(token):
            info = await backend.auth.verify(token)
        elif not access.throttle.begin_check(address):
            raise _busy("from this address")
        else:
            try:
                info = await backend.auth.verify(token)
            finally:
                access.throttle.end_check(address)
    except ChecksBusy:
        raise _busy("on this server") from None
    if access is not None:
        if info is None:
            delay = await access.auth_failed(address)
            if delay:
                await asyncio.sleep(delay)
        else:
            await access.auth_succeeded(address)
    return info


def _busy(where: str) -> ApiError:
    return ApiError(
        429,
        f"too many API key checks in progress {where}; try again shortly",
        code="auth_busy",
        headers={"Retry-After": "1"},
    )


async def current_key(request: Request) -> KeyInfo:
    """The verified key of the caller; a key is accepted only in `Authorization: Bearer`."""
    if request.scope.get("query_string") and QUERY_KEY_NAMES & {
        name.lower() for name in request.query_params
    }:
        raise ApiError(
            400, "API keys are not accepted in the query string; use Authorization: Bearer"
        )
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ApiError(
            401,
            "missing API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    backend = get_backend(request)
    info = await verify_for(request, backend, token)
    if info is None:
        raise ApiError(
            401, "invalid, expired or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.key = info
    access = access_service(backend)
    if access is not None:
        decision = await access.check(info)
        if decision is not None:
            request.state.ratelimit = decision
            if not decision.allowed:
                raise ApiError(
                    429,
                    f"rate limit of the {info.tier} tier reached "
                    f"({decision.binding.window.limit} requests per "
                    f"{decision.binding.window.name}); retry in {decision.retry_after} s",
                )
    return info


def require(scope: str) -> Callable[..., Coroutine[Any, Any, KeyInfo]]:
    """A dependency that admits keys holding `scope` (or admin)."""

    async def _check(key: Annotated[KeyInfo, Depends(current_key)]) -> KeyInfo:
        if not key.has(scope):
            raise ApiError(403, f"this key lacks the '{scope}' scope")
        return key

    _check.__name__ = f"require_{scope.replace(':', '_')}"
    return _check


CurrentKey = Annotated[KeyInfo, Depends(current_key)]
ReadKey = Annotated[KeyInfo, Depends(require("read"))]
AdminKey = Annotated[KeyInfo, Depends(require("admin"))]
ExportKey = Annotated[KeyInfo, Depends(require("export"))]
BackendDep = Annotated["ApiHost", Depends(get_backend)]


def no_store(response: Any) -> None:
    """Responses that reveal a key or a secret must never be cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


S = TypeVar("S")


def find_service(backend: Any, kind: type[S]) -> S | None:
    """The backend's running service of type `kind`, if it runs one (looked up by type)."""
    for candidate in backend.services_by_name.values():
        if isinstance(candidate, kind):
            return candidate
    return None


@functools.cache
def service(kind: type[S]) -> Callable[[Request], Coroutine[Any, Any, S]]:
    """A dependency answering the backend's running service of type `kind`, or a 503 saying it
    is not running in this backend (a collector, a build without it, or a backend still
    starting). Routes take `Annotated[FleetService, Depends(service(FleetService))]`; the
    factory is cached, so each kind has one dependency and FastAPI resolves it once a request."""
    name = getattr(kind, "name", kind.__name__)

    async def _running(request: Request) -> S:
        found = find_service(get_backend(request), kind)
        if found is None:
            raise ApiError(503, f"the {name} service is not running in this backend")
        return found

    _running.__name__ = f"{name}_service"
    return _running
