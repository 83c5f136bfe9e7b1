"""The API key format and its hashing.

A key is `hsk_<key id>_<64 hex>`: 256 random bits plus a public id, so verification looks up one row
by id and runs one Argon2id check. The hash covers key + pepper, so a stolen database alone verifies
nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_PREFIX = "hsk"
_KEY_RE = re.compile(r"^hsk_([a-z0-9]{12})_([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"ParsedKey(key_id={self.key_id!r}, secret=<hidden>)"


def new_key() -> tuple[str, str]:
    """(key id, full key) with 256 bits of secret."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_hex(32)}"


def parse_key(text: str) -> ParsedKey | None:
    match = _KEY_RE.match(text.strip())
    return ParsedKey(match.group(1), match.group(2)) if match else None


def hash_key(full_key: str, pepper: bytes, hasher: PasswordHasher) -> str:
    """Argon2id of key + pepper (CPU-heavy: call from a thread)."""
    return hasher.hash(full_key.encode() + pepper)


def verify_key_hash(stored_hash: str, full_key: str, pepper: bytes, hasher: PasswordHasher) -> bool:
    """Constant-time Argon2id check (CPU-heavy: call from a thread); the hash names its cost."""
    try:
        return hasher.verify(stored_hash, full_key.encode() + pepper)
    except (VerificationError, InvalidHashError):
        return False


def cache_fingerprint(full_key: str) -> str:
    """What the verification cache is keyed by: a hash of the key, never the key itself."""
    return hashlib.sha256(full_key.encode()).hexdigest()


def mask_key(full_key: str) -> str:
    parsed = parse_key(full_key)
    return f"{KEY_PREFIX}_{parsed.key_id}_…" if parsed else "…"
