"""The miners the settings file lists: `[[miners]]` entries, the `[fleet]` table, address grammar.

Settings validate every configured address at start (a typo fails with the entry named), so the
shapes and the grammar live here, below settings; the fleet's inventory expands them into miners.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_PORT = 4028  # the cgminer API port (backend.fleet.codec speaks that protocol)


class MinerEntry(BaseModel):
    """One `[[miners]]` table: an address (host, host:port or CIDR) and optional labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    name: str | None = Field(default=None, max_length=120)
    site: str | None = Field(default=None, max_length=64)
    rack: str | None = Field(default=None, max_length=64)
    position: str | None = Field(default=None, max_length=64)
    web_port: int | None = Field(default=None, ge=1, le=65535)  # control web UI (default 80)
    grpc_port: int | None = Field(default=None, ge=1, le=65535)  # Braiins OS gRPC (50051)


class FleetTable(BaseModel):
    """The `[fleet]` table: more miners, and labels applied to every miner it lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    miners: list[str | MinerEntry] = Field(default_factory=list)
    site: str | None = Field(default=None, max_length=64)
    port: int = Field(default=4028, ge=1, le=65535)
    web_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("miners", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return check_miners(value)


def check_miners(value: object) -> object:
    """Env and TOML may give "a, b/24, c:4029": split text, then check every entry."""
    items = split_miner_text(value) if isinstance(value, str) else value
    if isinstance(items, list):
        for item in items:
            validate_entry(item)
    return items


MAX_RANGE_HOSTS = 65_536  # a /16; larger ranges are almost always a typo
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_DOTTED_NUMBERS = re.compile(r"^[\d.]+$")


def split_miner_text(text: str) -> list[str]:
    """``"a, b/24  c:4029"`` -> ``["a", "b/24", "c:4029"]`` (commas, spaces or newlines)."""
    return [part for part in re.split(r"[\s,;]+", text) if part]


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> list[tuple[str, int]]:
    """Every (host, port) an address expression stands for; ValueError says what is wrong."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty miner address")
    if "/" in raw:
        return _expand_range(raw, default_port)
    host, port = _split_host_port(raw, default_port)
    if not _valid_host(host):
        raise ValueError(f"{raw!r} is not an IP address, host name, host:port or CIDR range")
    return [(host, port)]


def _expand_range(raw: str, port: int) -> list[tuple[str, int]]:
    spec, _, port_text = raw.partition("]:") if raw.startswith("[") else (raw, "", "")
    spec = spec.lstrip("[")
    if not port_text and raw.count(":") == 1 and "." in raw:  # 10.0.0.0/24:4029
        spec, _, port_text = raw.rpartition(":")
    if port_text:
        port = parse_port(port_text, raw)
    try:
        network = ipaddress.ip_network(spec, strict=False)
    except ValueError:
        raise ValueError(f"{raw!r} is not a valid CIDR range") from None
    if network.num_addresses > MAX_RANGE_HOSTS:
        raise ValueError(f"{raw!r} has {network.num_addresses} addresses; the limit is a /16")
    hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
    return [(str(address), port) for address in hosts]


def _split_host_port(raw: str, default_port: int) -> tuple[str, int]:
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep:
            raise ValueError(f"{raw!r}: missing ']' after an IPv6 address")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{raw!r}: expected ]:port")
        return host, parse_port(rest[1:], raw) if rest else default_port
    if raw.count(":") > 1:  # a bare IPv6 literal
        return raw, default_port
    host, sep, port_text = raw.partition(":")
    return host, parse_port(port_text, raw) if sep else default_port


def parse_port(text: str, raw: str) -> int:
    """The port in `text`, part of the address `raw` (named in the error)."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{raw!r}: port {text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{raw!r}: port {port} is out of range 1-65535")
    return port


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:  # "10.0.0.300" is a mistyped address, not a host name
        return bool(_HOSTNAME.match(host)) and not _DOTTED_NUMBERS.match(host)
    return True


def validate_entry(item: Any) -> None:
    """Check one configured entry early, so a typo fails at start with the entry named."""
    if isinstance(item, str):
        parse_address(item)
    elif isinstance(item, MinerEntry):
        parse_address(item.address, item.port or DEFAULT_PORT)
    elif isinstance(item, dict) and isinstance(item.get("address"), str):
        port = item.get("port")
        parse_address(item["address"], port if isinstance(port, int) else DEFAULT_PORT)
