"""Dependencies shared by the routers: the backend, the caller's key, scope checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from backend.api.errors import ApiError
from backend.auth.service import KeyInfo

if TYPE_CHECKING:
    from backend.runtime import Backend

QUERY_KEY_NAMES = {"api_key", "apikey", "key", "token", "access_token"}


def get_backend(request: Request) -> Backend:
    return request.app.state.backend


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_key(request: Request) -> KeyInfo:
    """The verified key of the caller; a key is accepted only in `Authorization: Bearer`."""
    if QUERY_KEY_NAMES & {name.lower() for name in request.query_params}:
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
    info = await get_backend(request).auth.verify(token)
    if info is None:
        raise ApiError(
            401, "invalid, expired or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.key = info
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
BackendDep = Annotated["Backend", Depends(get_backend)]
