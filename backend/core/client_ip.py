"""The client's IP: the socket peer, unless that peer is a trusted proxy.

``X-Forwarded-For`` is client-controlled text: it is read only when the direct peer is in the
caller's trusted proxies (``api_trusted_proxies``, ``wallet_trusted_proxies``), and then from the
right, skipping trusted proxies, so a client cannot choose its own address by prepending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


def _in(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address to log and rate-limit by."""
    if not peer:
        return "unknown"
    if not trusted or not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage in the header: fall back to what the socket says
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def is_public(address: str) -> bool:
    """Only globally routable unicast addresses are ever sent to a geolocation service."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast
