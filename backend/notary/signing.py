"""The notary key and EIP-191 `personal_sign` over a report hash.

What is signed is the 32-byte Keccak-256 of the canonical report: the signer computes
``keccak256("\\x19Ethereum Signed Message:\\n32" + hash)`` and signs that with secp256k1, exactly
what a wallet's ``personal_sign(hash)`` produces, so anyone can recover the signer with
``Account.recover_message(encode_defunct(primitive=hash), signature=...)`` or ethers'
``verifyMessage(getBytes(hash), signature)``.

The key comes from ``BLOCKCHAIN_PRIVATE_KEY`` when set, else from ``<data dir>/secrets/notary.key``
(created once, 0600; a file readable by others is refused). It never appears in a log or repr.
"""

from __future__ import annotations

import secrets as std_secrets
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

from backend.core.secrets import SecretFileError, read_private_file, write_private_file
from backend.notary.settings import NotarySettings

KEY_FILE_NAME = "notary.key"


class NotaryKeyError(Exception):
    """The configured notary key is unusable; the message never contains the key."""


@dataclass(frozen=True)
class NotaryKey:
    """A secp256k1 key that signs report hashes; `address` is its EIP-55 Ethereum address."""

    account: LocalAccount = field(repr=False)
    source: str  # "env" or the key file path, for humans

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign_hash(self, digest: bytes) -> str:
        """EIP-191 personal_sign of a 32-byte digest; returns the 65-byte signature as 0x-hex."""
        if len(digest) != 32:
            raise ValueError("the notary signs 32-byte hashes only")
        signed = self.account.sign_message(encode_defunct(primitive=digest))
        return "0x" + bytes(signed.signature).hex()

    def __repr__(self) -> str:
        return f"NotaryKey(address={self.address}, source={self.source!r})"


def recover_signer(digest: bytes, signature: str) -> str:
    """The EIP-55 address that personal_signed `digest`; ValueError for a malformed signature."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except (ValueError, AttributeError):
        raise ValueError("signature is not hex") from None
    if len(raw) != 65:
        raise ValueError("signature must be 65 bytes (r, s, v)")
    try:
        return str(Account.recover_message(encode_defunct(primitive=digest), signature=raw))
    except Exception as exc:  # eth_keys raises several types for bad r/s/v
        raise ValueError(f"signature does not recover: {type(exc).__name__}") from None


def checksum(address: str) -> str:
    """EIP-55 form of an address; ValueError if it is not a 20-byte hex address."""
    if not isinstance(address, str) or not is_hex_address(address):
        raise ValueError("not a 0x-prefixed 20-byte hex address")
    return str(to_checksum_address(address))


def key_file(settings: NotarySettings) -> Path:
    return settings.data_dir / "secrets" / KEY_FILE_NAME


def load_notary_key(settings: NotarySettings) -> NotaryKey:
    """The configured key, or the key file (generated on first use with 0600 permissions)."""
    if settings.blockchain_private_key is not None:
        secret = settings.blockchain_private_key.get_secret_value()
        return NotaryKey(account_from_hex(secret), "env")
    path = key_file(settings)
    try:
        text = read_private_file(path).decode("ascii", "replace").strip()
    except FileNotFoundError:
        text = "0x" + std_secrets.token_hex(32)
        write_private_file(path, text.encode() + b"\n")
    except SecretFileError as exc:
        raise NotaryKeyError(str(exc)) from None
    return NotaryKey(account_from_hex(text), str(path))


def account_from_hex(text: str) -> LocalAccount:
    """A key given as 64 hex digits (0x optional); NotaryKeyError that never shows the key."""
    value = text.strip()
    hex_part = value.removeprefix("0x")
    if len(hex_part) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hex_part):
        raise NotaryKeyError("notary key: expected 32 bytes as 64 hex digits (optionally 0x…)")
    try:
        return Account.from_key("0x" + hex_part)
    except Exception:  # eth_keys refuses 0 and values above the curve order
        raise NotaryKeyError("notary key: not a valid secp256k1 private key") from None
