"""Which webhook URLs may be called: never private, loopback or link-local addresses by default.

The host is resolved (without blocking the loop) and every address it resolves to must be public;
`webhooks_allow_private` lifts that for labs and tests. Redirects are never followed, so a public
endpoint cannot bounce a delivery inward. (A host that changes its DNS answer between our check and
the connection is the remaining gap; deliveries re-check before every attempt.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(Exception):
    """The URL may not be called; the message says why (safe to show)."""


def check_url(url: str, *, allow_http: bool) -> tuple[str, int]:
    """(host, port) of a syntactically acceptable webhook URL."""
    if len(url) > 2000:
        raise TargetRefused("the URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
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


async def check_target(
    url: str, *, allow_private: bool, allow_http: bool, timeout_s: float = 5.0
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
