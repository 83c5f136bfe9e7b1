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

from backend.fleet.drivers.base import ControlContext, DriverError


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

    With ``expect_reply`` false (a reboot), a dropped connection or a silence after the request
    went out is a ``timeout``, since that may be the effect itself."""
    bracketed = f"[{host}]" if ":" in host else host
    url = f"http://{bracketed}:{port}{path}"
    where = f"{host}:{port}"
    timeout = context.web_timeout_s
    own = context.http is None
    client = context.http or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    sent = False
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                method,
                url,
                auth=auth,
                headers=headers,
                json=json,
                timeout=httpx.Timeout(timeout),
            ) as response:
                sent = True
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > max_bytes:
                        raise error("failed", f"web reply from {where} too large")
                status = response.status_code
                challenge = response.headers.get("www-authenticate", "")[:200]
    except TimeoutError:
        if sent or not expect_reply:
            raise error("timeout", f"no reply from {where} within {timeout:g}s") from None
        raise error("failed", f"{service} {where} did not answer within {timeout:g}s") from None
    except httpx.TimeoutException:
        raise error("timeout", f"no reply from {where} within {timeout:g}s") from None
    except httpx.ConnectError:
        raise error("failed", f"{service} {where} unreachable") from None
    except httpx.HTTPError as exc:
        if not expect_reply:  # a reboot may drop the connection: that is the effect
            raise error("timeout", f"{where} closed the connection") from None
        raise error("failed", f"{service} {where}: {type(exc).__name__}") from None
    finally:
        if own:
            await client.aclose()
    return WebReply(status, bytes(raw), challenge)
