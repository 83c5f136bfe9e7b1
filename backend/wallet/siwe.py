"""Sign-In with Ethereum (EIP-4361) messages: build them, and parse them strictly.

The ABNF of EIP-4361 in short (LF line ends, case-sensitive labels)::

    ${domain} wants you to sign in with your Ethereum account:
    ${address}                       ; EIP-55 checksummed

    ${statement}                     ; optional, no LF

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}                  ; at least 8 alphanumerics
    Issued At: ${issued-at}          ; RFC 3339
    [Expiration Time: ${expiration-time}]
    [Not Before: ${not-before}]
    [Request ID: ${request-id}]
    [Resources:
    - ${uri}...]

The backend stores the exact text it issued with the nonce and verifies the signature over that
stored text; parsing is used to check the terms (domain, address, times), never to rebuild it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_utils import is_checksum_address

from backend.wallet.authority import is_authority

HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,}$")
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_STATEMENT_RE = re.compile(r"^[A-Za-z0-9 \-._~:/?#\[\]@!$&'()*+,;=%]*$")
_NONCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_OPTIONAL = (
    ("Expiration Time: ", "expiration_time"),
    ("Not Before: ", "not_before"),
    ("Request ID: ", "request_id"),
)


class SiweError(ValueError):
    """The text is not a well-formed EIP-4361 message; the message says which part."""


@dataclass(frozen=True, slots=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The message exactly as EIP-4361 lays it out."""
        lines = [f"{self.domain}{HEADER_SUFFIX}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        for label, name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{label}{value}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def new_nonce(length: int = 22) -> str:
    """A single-use nonce: alphanumeric (as the ABNF requires), ~130 bits for 22 characters."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a `Z`, as SIWE libraries write it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SiweError(f"{name} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise SiweError(f"{name} has no time zone")
    return moment.astimezone(UTC)


def parse(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; SiweError names the first part that does not conform."""
    if "\r" in text:
        raise SiweError("lines must end with LF only")
    lines = text.split("\n")
    pos = 0

    def take(what: str) -> str:
        nonlocal pos
        if pos >= len(lines):
            raise SiweError(f"message ends before {what}")
        pos += 1
        return lines[pos - 1]

    header = take("the header")
    if not header.endswith(HEADER_SUFFIX):
        raise SiweError("first line must be '<domain> wants you to sign in with your …'")
    domain = header[: -len(HEADER_SUFFIX)]
    if not is_authority(domain):
        raise SiweError("domain is not an RFC 3986 authority")
    address = take("the address")
    if not _ADDRESS_RE.match(address):
        raise SiweError("address must be 0x followed by 40 hex digits")
    if address != address.lower() and not is_checksum_address(address):
        raise SiweError("address is not EIP-55 checksummed")
    if take("the blank line") != "":
        raise SiweError("a blank line must follow the address")
    statement = None
    line = take("the statement or a blank line")
    if line.startswith("URI: "):  # lenient: one blank line and no statement (older writers)
        pos -= 1
    elif line != "":
        statement = line
        if not _STATEMENT_RE.match(statement):
            raise SiweError("statement has characters outside RFC 3986 reserved/unreserved")
        if take("the blank line") != "":
            raise SiweError("a blank line must follow the statement")
    values = {}
    for label, name in (
        ("URI: ", "uri"),
        ("Version: ", "version"),
        ("Chain ID: ", "chain_id"),
        ("Nonce: ", "nonce"),
        ("Issued At: ", "issued_at"),
    ):
        line = take(label.strip())
        if not line.startswith(label):
            raise SiweError(f"expected '{label.strip()}' on line {pos}")
        values[name] = line[len(label) :]
    if not _URI_RE.match(values["uri"]):
        raise SiweError("URI is not an RFC 3986 URI")
    if values["version"] != "1":
        raise SiweError("Version must be 1")
    if not values["chain_id"].isdigit():
        raise SiweError("Chain ID must be digits")
    if not _NONCE_RE.match(values["nonce"]):
        raise SiweError("Nonce must be at least 8 letters or digits")
    parse_time(values["issued_at"], "Issued At")
    optional: dict[str, str] = {}
    for label, name in _OPTIONAL:
        if pos < len(lines) and lines[pos].startswith(label):
            optional[name] = take(label)[len(label) :]
    for name in ("expiration_time", "not_before"):
        if name in optional:
            parse_time(optional[name], name.replace("_", " "))
    resources: list[str] = []
    if pos < len(lines) and lines[pos] == "Resources:":
        pos += 1
        while pos < len(lines) and lines[pos].startswith("- "):
            resource = take("a resource")[2:]
            if not _URI_RE.match(resource):
                raise SiweError("a resource is not an RFC 3986 URI")
            resources.append(resource)
    if pos != len(lines):
        raise SiweError(f"unexpected text on line {pos + 1}")
    return SiweMessage(
        domain=domain,
        address=address,
        uri=values["uri"],
        chain_id=int(values["chain_id"]),
        nonce=values["nonce"],
        issued_at=values["issued_at"],
        statement=statement,
        version=values["version"],
        resources=tuple(resources),
        **optional,
    )
