"""The cryptography of Whatsminer's admin APIs, shared by the driver and the simulator.

API v2 (TCP 4028): ``get_token`` gives ``time``, ``salt`` and ``newsalt``. The key is the hash
part of md5-crypt(password, salt) and the sign the hash part of md5-crypt(key + time, newsalt);
a privileged command is JSON carrying ``"token": sign``, NUL-padded to 16 bytes, encrypted with
AES-256-ECB under sha256(key) and sent base64-encoded as ``{"enc": 1, "data": ...}``; the miner
answers ``{"enc": "<base64>"}`` under the same key.

API v3 (TCP 4433): every message is a 4-byte little-endian length, then JSON. A ``set.*``
command carries ``account``, ``ts`` and ``token`` = the first 8 characters of
base64(sha256(cmd + password + salt + ts)), the salt coming from ``get.device.info``.

md5-crypt is written out here (Poul-Henning Kamp's published ``$1$`` scheme) rather than taken
from a password-hashing package: it is a few lines, and this is its only use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MD5_MAGIC = b"$1$"
V3_TOKEN_CHARS = 8
V3_HEADER = struct.Struct("<I")


class CryptoError(ValueError):
    """A ciphertext that does not decrypt to a JSON object (wrong key, or not encrypted)."""


def _md5(*parts: bytes) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return digest.digest()


def _to64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def md5_crypt(password: str, salt: str) -> str:
    """``$1$<salt>$<hash>``: the salt is cut at 8 characters or a ``$``, like crypt(3)."""
    pw = password.encode()
    salt_b = salt.removeprefix("$1$").split("$", 1)[0].encode()[:8]
    ctx = hashlib.md5(pw + MD5_MAGIC + salt_b, usedforsecurity=False)
    alternate = _md5(pw, salt_b, pw)
    remaining = len(pw)
    while remaining > 0:
        ctx.update(alternate[: min(16, remaining)])
        remaining -= 16
    bits = len(pw)
    while bits:
        ctx.update(b"\0" if bits & 1 else pw[:1])
        bits >>= 1
    final = ctx.digest()
    for i in range(1000):
        step = hashlib.md5(pw if i & 1 else final, usedforsecurity=False)
        if i % 3:
            step.update(salt_b)
        if i % 7:
            step.update(pw)
        step.update(final if i & 1 else pw)
        final = step.digest()
    text = ""
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        text += _to64((final[a] << 16) | (final[b] << 8) | final[c], 4)
    text += _to64(final[11], 2)
    return f"$1${salt_b.decode()}${text}"


def md5_crypt_hash(password: str, salt: str) -> str:
    """Only the hash part of md5-crypt: what Whatsminer's token scheme uses."""
    return md5_crypt(password, salt).rsplit("$", 1)[1]


# ---------------------------------------------------------------------- API v2


def v2_key(password: str, salt: str) -> str:
    return md5_crypt_hash(password, salt)


def v2_sign(key: str, time_text: str, newsalt: str) -> str:
    return md5_crypt_hash(key + time_text, newsalt)


def _cipher(key: str) -> Cipher[modes.ECB]:
    return Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.ECB())


def v2_encrypt(key: str, payload: dict[str, Any]) -> str:
    """The base64 text of the NUL-padded, AES-256-ECB encrypted JSON ``payload``."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    raw += b"\0" * (-len(raw) % 16)
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()


def v2_decrypt(key: str, text: str, *, max_bytes: int) -> bytes:
    """The plaintext bytes (NULs stripped) of an ``enc`` field; parse them as untrusted."""
    if not isinstance(text, str) or len(text) > max_bytes * 2:
        raise CryptoError("encrypted field missing or too large")
    try:
        blob = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("encrypted field is not base64") from None
    if not blob or len(blob) % 16:
        raise CryptoError("encrypted field is not whole AES blocks")
    decryptor = _cipher(key).decryptor()
    return (decryptor.update(blob) + decryptor.finalize()).rstrip(b"\0")


def v2_envelope(key: str, payload: dict[str, Any]) -> bytes:
    """What goes on the wire for a privileged v2 command."""
    return json.dumps({"enc": 1, "data": v2_encrypt(key, payload)}).encode()


# ---------------------------------------------------------------------- API v3


def v3_token(command: str, password: str, salt: str, ts: int) -> str:
    digest = hashlib.sha256(f"{command}{password}{salt}{ts}".encode()).digest()
    return base64.b64encode(digest).decode()[:V3_TOKEN_CHARS]


def v3_frame(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return V3_HEADER.pack(len(body)) + body
