"""Wallet logins (Sign-In with Ethereum): the original `/api/wallet/*` routes, the `/login`
page, and the login log for operators.

Messages name the configured origin (`public_url`, else the API's own listen address; see
`backend.wallet.service`), never the request's Host: a site relaying a login cannot get a message
that names itself. The client IP is the socket peer unless the peer is
in `wallet_trusted_proxies`, in which case X-Forwarded-For is read (right to left).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from backend.api.deps import AdminKey, BackendDep, service
from backend.api.errors import ApiError
from backend.api.params import COMMON_ERRORS, ObjectId, Offset
from backend.core.audit import record_audit
from backend.core.client_ip import client_ip
from backend.wallet import login_page
from backend.wallet.service import Session, WalletError, WalletService
from hashinsight_contract.wallet import (
    LogoutOut,
    RevealedKey,
    WalletLoginList,
    WalletLoginOut,
    WalletLoginRequest,
    WalletMe,
    WalletNonceOut,
    WalletNonceRequest,
)

router = APIRouter(tags=["wallet"], responses=COMMON_ERRORS)
Wallet = Annotated[WalletService, Depends(service(WalletService))]

SESSION_COOKIE = "hi_wallet_session"
SESSION_HEADER = "x-wallet-session"
PAGE_HEADERS = {
    "Content-Security-Policy": login_page.CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _ip(request: Request, wallet: WalletService) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), wallet.trusted_proxies)


def _error(exc: WalletError) -> ApiError:
    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
    return ApiError(exc.status, exc.message, headers=headers)


def _token(request: Request) -> str | None:
    return request.headers.get(SESSION_HEADER) or request.cookies.get(SESSION_COOKIE)


async def _session(request: Request, wallet: WalletService) -> Session:
    session = await wallet.session(_token(request))
    if session is None:
        raise ApiError(401, "not signed in (or the session expired): sign in at /login")
    return session


@router.post(
    "/api/wallet/nonce",
    response_model=WalletNonceOut,
    summary="A single-use nonce and the exact EIP-4361 message to sign",
)
async def wallet_nonce(
    body: WalletNonceRequest, request: Request, wallet: Wallet
) -> WalletNonceOut:
    try:
        return await wallet.issue_nonce(body.wallet_address, ip=_ip(request, wallet))
    except WalletError as exc:
        raise _error(exc) from None


@router.post(
    "/api/wallet/login",
    response_model=WalletLoginOut,
    summary="Check the signed message and open a session",
)
async def wallet_login(
    body: WalletLoginRequest, request: Request, response: Response, wallet: Wallet
) -> WalletLoginOut:
    try:
        token, session = await wallet.login(
            wallet_address=body.wallet_address,
            signature=body.signature,
            nonce=body.nonce,
            message=body.message,
            ip=_ip(request, wallet),
            user_agent=request.headers.get("user-agent"),
        )
    except WalletError as exc:
        raise _error(exc) from None
    max_age = int((session.expires_at - session.created_at).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/api/wallet",
        secure=request.url.scheme == "https" or wallet.origin.uri.startswith("https://"),
        httponly=True,
        samesite="strict",
    )
    return WalletLoginOut(
        ok=True,
        wallet_address=session.address,
        session_token=token,
        expires_at=session.expires_at.isoformat(),
    )


async def _partner_keys(backend: Any, address: str) -> list[Any]:
    keys = await backend.auth.list_keys()
    return [
        key
        for key in keys
        if key.owner_type == "partner" and (key.owner_id or "").lower() == address.lower()
    ]


@router.get("/api/wallet/me", response_model=WalletMe, summary="The signed-in wallet and its keys")
async def wallet_me(request: Request, backend: BackendDep, wallet: Wallet) -> WalletMe:
    session = await _session(request, wallet)
    keys = await _partner_keys(backend, session.address)
    return WalletMe(
        wallet_address=session.address,
        expires_at=session.expires_at.isoformat(),
        keys=[key.out() for key in keys],
    )


@router.post(
    "/api/wallet/keys/{key_id}/reveal",
    response_model=RevealedKey,
    summary="The full API key, for the partner who owns it",
)
async def wallet_reveal_key(
    key_id: ObjectId, request: Request, backend: BackendDep, wallet: Wallet
) -> RevealedKey:
    session = await _session(request, wallet)
    if key_id not in {key.key_id for key in await _partner_keys(backend, session.address)}:
        raise ApiError(404, "no such key for this wallet")
    full = await backend.auth.reveal(key_id)
    if full is None:
        raise ApiError(404, "no such key for this wallet")
    async with wallet.context.db.session() as db:
        record_audit(
            db,
            actor=f"wallet:{session.address}",
            action="key.reveal",
            target=key_id,
            source=_ip(request, wallet),
        )
    return RevealedKey(key_id=key_id, api_key=full)


@router.post("/api/wallet/logout", response_model=LogoutOut, summary="End the wallet session")
async def wallet_logout(request: Request, response: Response, wallet: Wallet) -> LogoutOut:
    done = await wallet.logout(_token(request))
    response.delete_cookie(SESSION_COOKIE, path="/api/wallet")
    return LogoutOut(ok=done)


@router.get(
    "/api/v1/wallet/logins",
    response_model=WalletLoginList,
    summary="Every wallet login attempt, newest first, with its geolocation",
)
async def wallet_logins(
    _key: AdminKey,
    wallet: Wallet,
    address: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(pattern="^(ok|rejected|rate_limited)$")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in address/IP/place")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> WalletLoginList:
    return await wallet.logins(
        address=address, outcome=outcome, query=q, limit=limit, offset=offset
    )


@router.get("/login", include_in_schema=False)
async def login_html() -> Response:
    return Response(login_page.HTML, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/login/app.js", include_in_schema=False)
async def login_js() -> Response:
    return Response(
        login_page.JS, media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS
    )


@router.get("/login/app.css", include_in_schema=False)
async def login_css() -> Response:
    return Response(login_page.CSS, media_type="text/css; charset=utf-8", headers=PAGE_HEADERS)
