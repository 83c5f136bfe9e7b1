"""Keccak-256 (Ethereum's hash, not NIST SHA3-256) and the hex forms the notary records."""

from __future__ import annotations

import re

from eth_utils import keccak

_HASH_RE = re.compile(r"^0x[0-9a-f]{64}$")


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest, as Solidity's keccak256 and web3 compute it."""
    return keccak(primitive=bytes(data))


def keccak_hex(data: bytes) -> str:
    """`0x` + 64 lowercase hex digits."""
    return "0x" + keccak256(data).hex()


def hash_from_hex(text: str) -> bytes:
    """Parse a recorded `0x…` hash; ValueError unless it is exactly 32 bytes of lowercase hex."""
    if not isinstance(text, str) or not _HASH_RE.match(text):
        raise ValueError("a hash is 0x followed by 64 lowercase hex digits")
    return bytes.fromhex(text[2:])
