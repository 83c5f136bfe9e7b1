"""Which webhook URLs may be called: never private, loopback or link-local addresses by default.

The host is resolved (without blocking the loop) and every address it resolves to must be public;
`webhooks_allow_private` lifts that for labs and tests. Redirects are never followed, so a public
endpoint cannot bounce a delivery inward. (A host that changes its DNS answer between our check and
the connection is the remaining gap; deliveries re-check before every attempt.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx

# No HTTP client sends these in a request line: such a URL could never be delivered to.
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class TargetRefused(Exception):
    """The URL may not be called; the message says why (safe to show)."""


def check_url(url: str, *, allow_http: bool) -> tuple[str, int]:
    """(host, port) of a syntactically acceptable webhook URL: one the HTTP client can send."""
    if len(url) > 2000:
        raise TargetRefused("the URL is longer than 2000 characters")
    if _UNSENDABLE.search(url):
        raise TargetRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("https", "http"):
        raise TargetRefused("the URL must start with https://")
    if parts.scheme == "http" and not allow_http:
        raise TargetRefused("plain http is not allowed for webhooks; use https://")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


RESOLVE_TIMEOUT_S = 5.0


async def check_target(
    url: str, *, allow_private: bool, allow_http: bool, timeout_s: float = RESOLVE_TIMEOUT_S
) -> list[str]:
    """Resolve the URL's host; refuse it unless every address is public (or private is allowed)."""
    host, port = check_url(url, allow_http=allow_http)
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            timeout_s,
        )
    except (TimeoutError, OSError):
        raise TargetRefused(f"cannot resolve {host}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise TargetRefused(f"cannot resolve {host}")
    if not allow_private:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise TargetRefused(
                f"{host} resolves to a private, loopback or reserved address ({private[0]})"
            )
    return addresses
