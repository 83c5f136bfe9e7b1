"""One HTTP exchange with a miner's web interface, bounded in time and size.

Stock Antminer's CGI and Vnish's API both answer small JSON over plain HTTP on the miner's
address; what the drivers need from the transport is the same: a deadline over the whole
exchange (connect, headers and body), the body cut at a size no real reply reaches, and each
failure in an operator's words (``DriverError`` of the driver's own class).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from backend.fleet.drivers.base import ControlContext, DriverError, Outcome


@dataclass(frozen=True, slots=True)
class WebReply:
    status: int
    body: bytes
    challenge: str  # WWW-Authenticate, cut short: tells a digest CGI from a token API


async def web_exchange(
    context: ControlContext,
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    service: str,
    max_bytes: int,
    error: type[DriverError] = DriverError,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
    json: Any = None,
    expect_reply: bool = True,
) -> WebReply:
    """``service`` names the interface in messages ("web interface", "web API").

    Nothing delivered (no connection, or the request not written whole) is ``failed``. With
    ``expect_reply`` false (a reboot), the miner going quiet once it has the request is a
    ``timeout``, since that may be the effect itself; ``received`` on it says whether the miner
    showed it had the request (closed the connection on it, or began answering) rather than
    staying silent as a hung one does."""
    bracketed = f"[{host}]" if ":" in host else host
    url = f"http://{bracketed}:{port}{path}"
    where = f"{host}:{port}"
    timeout = context.web_timeout_s
    own = context.http is None
    client = context.http or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    written = False  # the last request went out whole (httpcore's trace events)
    sent = False  # its reply's headers arrived

    async def trace(event: str, _info: dict[str, Any]) -> None:
        nonlocal written
        if event.endswith(".send_request_headers.started"):
            written = False  # digest auth sends the request a second time
        elif event.endswith(".send_request_body.complete"):
            written = True

    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                method,
                url,
                auth=auth,
                headers=headers,
                json=json,
                timeout=httpx.Timeout(timeout),
                extensions={"trace": trace},
            ) as response:
                sent = True
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > max_bytes:
                        raise error("failed", f"web reply from {where} too large")
                status = response.status_code
                challenge = response.headers.get("www-authenticate", "")[:200]
    except (TimeoutError, httpx.TimeoutException):
        if not written and not sent:
            raise error(
                "failed", f"{service} {where} unreachable: no connection within {timeout:g}s"
            ) from None
        if sent or not expect_reply:
            raise error(
                "timeout", f"no reply from {where} within {timeout:g}s", received=sent
            ) from None
        raise error("failed", f"{service} {where} did not answer within {timeout:g}s") from None
    except httpx.ConnectError:
        raise error("failed", f"{service} {where} unreachable") from None
    except httpx.HTTPError as exc:
        if not expect_reply and (written or sent):  # a reboot may drop the connection
            raise error("timeout", f"{where} closed the connection", received=True) from None
        raise error("failed", f"{service} {where}: {type(exc).__name__}") from None
    finally:
        if own:
            await client.aclose()
    return WebReply(status, bytes(raw), challenge)


def unanswered_reboot(exc: DriverError, before: dict[str, Any]) -> Outcome:
    """A reboot request the web interface did not answer (``web_exchange``'s ``timeout``).
    Dropping the connection on it is the reboot starting; silence is what a hung miner does
    too, so it is not a success: the command path would hold the miner's offline alerts for a
    reboot nobody saw begin."""
    if exc.received:
        return Outcome("succeeded", "reboot sent (the miner dropped the connection)", None, before)
    return Outcome(
        "failed", f"reboot sent, not confirmed: {exc.message} (the miner may be hung)", None, before
    )
