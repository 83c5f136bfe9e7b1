"""cgminer's ``--api-allow``: which clients may talk to a miner, and which may write."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Rules = tuple[tuple[str, ipaddress.IPv4Network], ...]


def parse_api_allow(spec: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """cgminer ``--api-allow`` ("W:127.0.0.1,10.0.0/24,R:0/0"): first match wins,
    ``W:`` is privileged, anything else read-only; short addresses are padded with .0."""
    rules: list[tuple[str, ipaddress.IPv4Network]] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        group = "R"
        if len(entry) > 2 and entry[1] == ":" and entry[0].isalpha():
            group, entry = entry[0].upper(), entry[2:]
        if entry == "0/0":
            rules.append((group, ipaddress.IPv4Network("0.0.0.0/0")))
            continue
        addr, _, prefix = entry.partition("/")
        octets = addr.split(".")
        octets += ["0"] * (4 - len(octets))
        rules.append(
            (group, ipaddress.IPv4Network(f"{'.'.join(octets)}/{prefix or 32}", strict=False))
        )
    return rules


@lru_cache(maxsize=64)
def parsed_rules(spec: str) -> Rules:
    """One parsed rule list per distinct ``--api-allow`` (10,000 miners share a handful)."""
    return tuple(parse_api_allow(spec))


@lru_cache(maxsize=1024)
def access_group(rules: Rules, client_ip: str) -> str | None:
    """Cached per (rules, client): every miner of a sweep sees the same poller address."""
    try:
        addr = ipaddress.IPv4Address(client_ip)
    except ValueError:
        return None
    for group, net in rules:
        if addr in net:
            return group
    return None
