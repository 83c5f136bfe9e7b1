"""ndau key and signature text, byte for byte as ndaumath's ``pkg/signature`` writes it.

Why written here: the issuer must read the operator's ``npvt…`` key and emit signatures the
ndau node accepts; no maintained Python package speaks this format. The msgpack framing is the
``msgpack`` package and base32 is the standard library's with ndau's alphabet swapped in.
Sources are ``github.com/ndau/ndaumath`` ``pkg/signature/{algorithm,container,container_gen,
keybase,private_key,public_key,signature,checksum,id_map}.go``,
``pkg/signature/algorithms/{ed25519,secp256k1}`` and ``pkg/b32/b32.go``:

* Binary form (``IdentifiedData``, ``//msgp:tuple``): msgpack array of two, the algorithm id as
  a msgpack uint (1 = Ed25519, 2 = secp256k1, so a positive fixint) then a msgpack ``bin``.
  For keys the bin is ``len(key) (1 byte) || key || extra``; ``extra`` is empty for plain keys
  and 40 bytes (depth 1, parent fingerprint 3, child number 4 big-endian, chain code 32) for
  the BIP32 keys ndau wallets derive (``pkg/key/extendedkey.go``). A signature's bin is the raw
  signature, with no length byte.
* Checksum (``AddChecksum``): one byte ``n``, the message, then the last ``n`` bytes of
  SHA-224(message); ``n`` is the smallest width >= 3 making the total a multiple of 5 bytes, so
  base32 never pads. We accept only that width on input (Go would accept any ``n`` that
  matches, even 0, which disables the checksum).
* Text: RFC 4648 base32 bit order with ndau's alphabet ``abcdefghijkmnpqrstuvwxyz23456789``,
  decoded case-insensitively (newer ``b32.Decode`` lowercases). Keys get ``npub``/``npvt``
  prepended to that text (prefix compared exactly); signatures have no prefix.
* Ed25519: public key 32 bytes, private key 64 (seed || public, Go's ``crypto/ed25519``
  layout), signature 64 bytes over the message itself.
* secp256k1: public key 33 bytes (compressed SEC1), private key 32 (big-endian scalar),
  signature the DER ECDSA signature of SHA-256(message) with low S and RFC 6979 nonces, as
  btcec's ``Sign`` + ``Serialize`` make it; ours come out byte-identical to Go's.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import IntEnum

import msgpack
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

PUBLIC_KEY_PREFIX = "npub"
PRIVATE_KEY_PREFIX = "npvt"
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"

_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_RFC4648 = str.maketrans(ALPHABET, _RFC4648)
_FROM_RFC4648 = str.maketrans(_RFC4648, ALPHABET)
_ACCEPTED_CHARS = frozenset(ALPHABET + ALPHABET.upper())

_CHECKSUM_PAD_WIDTH = 5
_CHECKSUM_MIN_BYTES = 3
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_DER_SIGNATURE = 72


class NdauKeyError(ValueError):
    """Key or signature text/bytes that ndau would not accept; never carries key material."""


class Algorithm(IntEnum):
    """ndau's canonical algorithm ids (``id_map.go``)."""

    ED25519 = 1
    SECP256K1 = 2


_PUBLIC_KEY_SIZE = {Algorithm.ED25519: 32, Algorithm.SECP256K1: 33}
_PRIVATE_KEY_SIZE = {Algorithm.ED25519: 64, Algorithm.SECP256K1: 32}


# --- base32, checksum, msgpack ------------------------------------------------------------


def _b32encode(raw: bytes) -> str:
    assert len(raw) % 5 == 0, "checksummed data is always a multiple of 5 bytes"
    return base64.b32encode(raw).decode("ascii").translate(_FROM_RFC4648)


def _b32decode(text: str, what: str, offset: int = 0) -> bytes:
    for i, ch in enumerate(text):
        if ch not in _ACCEPTED_CHARS:
            raise NdauKeyError(
                f"{what}: character at position {offset + i} is not in ndau's base32 "
                f"alphabet ({ALPHABET})"
            )
    if not text or len(text) % 8:
        raise NdauKeyError(
            f"{what}: {len(text)} base32 characters is not a whole number of 8-character "
            "groups (truncated or padded text?)"
        )
    return base64.b32decode(text.lower().translate(_TO_RFC4648))


def _checksum_width(message_len: int) -> int:
    fill = _CHECKSUM_PAD_WIDTH - (message_len + 1) % _CHECKSUM_PAD_WIDTH
    return fill + _CHECKSUM_PAD_WIDTH if fill < _CHECKSUM_MIN_BYTES else fill


def _add_checksum(message: bytes) -> bytes:
    n = _checksum_width(len(message))
    return bytes([n]) + message + hashlib.sha224(message).digest()[-n:]


def _strip_checksum(checked: bytes, what: str) -> bytes:
    n = checked[0] if checked else 0
    message = checked[1 : len(checked) - n]
    if (
        len(checked) < 1 + _CHECKSUM_MIN_BYTES
        or n != _checksum_width(len(message))
        or hashlib.sha224(message).digest()[-n:] != checked[len(checked) - n :]
    ):
        raise NdauKeyError(f"{what}: bad checksum (mistyped or truncated text?)")
    return message


def _marshal(algorithm: Algorithm, data: bytes) -> bytes:
    # fixarray(2), the id as a positive fixint, then bin 8/16/32: the shortest forms, as msgp.
    return msgpack.packb([int(algorithm), data], use_bin_type=True)


def _unmarshal(raw: bytes, what: str) -> tuple[Algorithm, bytes]:
    # Every length limit follows the buffer size, so nothing claims more than the input holds.
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(raw), 16))
    unpacker.feed(raw)
    try:
        container = unpacker.unpack()
    except msgpack.OutOfData:
        raise NdauKeyError(f"{what}: serialized data ends early") from None
    except ValueError:  # FormatError, StackError, undecodable str, non-str map key
        raise NdauKeyError(f"{what}: not an ndau [algorithm, data] container") from None
    if unpacker.tell() != len(raw):
        raise NdauKeyError(f"{what}: trailing bytes after the [algorithm, data] container")
    if not isinstance(container, list):
        raise NdauKeyError(f"{what}: not an ndau [algorithm, data] container")
    if len(container) != 2:
        raise NdauKeyError(f"{what}: container must hold exactly [algorithm, data]")
    algorithm_id, data = container
    if type(algorithm_id) is not int:  # bool is an int subclass; msgp would refuse it too
        raise NdauKeyError(f"{what}: algorithm id is not an integer")
    if not isinstance(data, bytes):
        raise NdauKeyError(f"{what}: data field is not msgpack bin")
    return _algorithm(algorithm_id, what), data


def _algorithm(value: int, what: str) -> Algorithm:
    try:
        return Algorithm(value)
    except ValueError:
        raise NdauKeyError(
            f"{what}: wrong algorithm: unsupported id {value} (1 = Ed25519, 2 = secp256k1)"
        ) from None


def _check_expected(algorithm: Algorithm, expect: Algorithm | None, what: str) -> None:
    if expect is not None and algorithm != expect:
        raise NdauKeyError(f"{what}: wrong algorithm: expected {expect.name}, got {algorithm.name}")


def _pack_key(key: bytes, extra: bytes) -> bytes:
    return bytes([len(key)]) + key + extra


def _unpack_key(data: bytes, what: str) -> tuple[bytes, bytes]:
    if not data or len(data) < 1 + data[0]:
        raise NdauKeyError(f"{what}: key data shorter than its length byte says")
    split = 1 + data[0]
    return data[1:split], data[split:]


def _split_prefix(text: str, prefix: str, what: str) -> str:
    if not isinstance(text, str):
        raise NdauKeyError(f"{what}: expected text, got {type(text).__name__}")
    text = text.strip()
    if not text.startswith(prefix):
        raise NdauKeyError(f"{what}: bad prefix: must begin with {prefix!r}")
    return text[len(prefix) :]


def _decode_container(body: str, what: str, offset: int) -> tuple[Algorithm, bytes]:
    return _unmarshal(_strip_checksum(_b32decode(body, what, offset), what), what)


# --- values ---------------------------------------------------------------------------------


def _as_bytes(value: object, field: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{field} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _secp256k1_public(key: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), key)


def _secp256k1_private(key: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(key, "big"), ec.SECP256K1())


def _raw_public(public: ed25519.Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _compressed_public(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


@dataclass(frozen=True)
class PublicKey:
    """An ndau public key; ``extra`` holds BIP32 data for wallet-derived keys and round-trips."""

    algorithm: Algorithm
    key: bytes
    extra: bytes = b""

    def __post_init__(self) -> None:
        algorithm = _algorithm(int(self.algorithm), "public key")
        key = _as_bytes(self.key, "key")
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "extra", _as_bytes(self.extra, "extra"))
        if len(key) != _PUBLIC_KEY_SIZE[algorithm]:
            raise NdauKeyError(
                f"{algorithm.name} public key must be {_PUBLIC_KEY_SIZE[algorithm]} bytes, "
                f"got {len(key)}"
            )
        if algorithm is Algorithm.SECP256K1:
            try:
                _secp256k1_public(key)
            except ValueError:
                raise NdauKeyError(
                    "secp256k1 public key is not a compressed point on the curve"
                ) from None

    def to_text(self) -> str:
        data = _marshal(self.algorithm, _pack_key(self.key, self.extra))
        return PUBLIC_KEY_PREFIX + _b32encode(_add_checksum(data))

    @classmethod
    def from_text(cls, text: str, expect: Algorithm | None = None) -> PublicKey:
        """Parse ``npub…``; ``expect`` rejects keys of another algorithm with a clear error."""
        what = "public key"
        body = _split_prefix(text, PUBLIC_KEY_PREFIX, what)
        algorithm, data = _decode_container(body, what, len(PUBLIC_KEY_PREFIX))
        _check_expected(algorithm, expect, what)
        key, extra = _unpack_key(data, what)
        return cls(algorithm, key, extra)


@dataclass(frozen=True)
class PrivateKey:
    """An ndau private key. Its repr and every error about it omit the key material."""

    algorithm: Algorithm
    key: bytes
    extra: bytes = b""

    def __post_init__(self) -> None:
        algorithm = _algorithm(int(self.algorithm), "private key")
        key = _as_bytes(self.key, "key")
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "extra", _as_bytes(self.extra, "extra"))
        if len(key) != _PRIVATE_KEY_SIZE[algorithm]:
            raise NdauKeyError(
                f"{algorithm.name} private key must be {_PRIVATE_KEY_SIZE[algorithm]} bytes, "
                f"got {len(key)}"
            )
        if algorithm is Algorithm.SECP256K1:
            if not 0 < int.from_bytes(key, "big") < _SECP256K1_ORDER:
                raise NdauKeyError("secp256k1 private key is outside the curve order")
        elif _raw_public(self._ed25519().public_key()) != key[32:]:
            # Go signs with seed and embedded public half; a mismatch yields bad signatures.
            raise NdauKeyError("Ed25519 private key's public half does not match its seed")

    def __repr__(self) -> str:
        return f"PrivateKey(algorithm={self.algorithm!r}, key=<redacted>)"

    __str__ = __repr__

    def _ed25519(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(self.key[:32])

    def public_key(self) -> PublicKey:
        """The matching public key; BIP32 ``extra`` carries over as ndaumath's ``Public()`` does."""
        if self.algorithm is Algorithm.ED25519:
            return PublicKey(self.algorithm, self.key[32:], self.extra)
        public = _secp256k1_private(self.key).public_key()
        return PublicKey(self.algorithm, _compressed_public(public), self.extra)

    def to_text(self) -> str:
        data = _marshal(self.algorithm, _pack_key(self.key, self.extra))
        return PRIVATE_KEY_PREFIX + _b32encode(_add_checksum(data))

    @classmethod
    def from_text(cls, text: str, expect: Algorithm | None = None) -> PrivateKey:
        """Parse ``npvt…``; ``expect`` rejects keys of another algorithm with a clear error."""
        what = "private key"
        body = _split_prefix(text, PRIVATE_KEY_PREFIX, what)
        algorithm, data = _decode_container(body, what, len(PRIVATE_KEY_PREFIX))
        _check_expected(algorithm, expect, what)
        key, extra = _unpack_key(data, what)
        return cls(algorithm, key, extra)


@dataclass(frozen=True)
class Signature:
    """An ndau signature; its text form (no prefix) is what transactions carry in JSON."""

    algorithm: Algorithm
    data: bytes

    def __post_init__(self) -> None:
        algorithm = _algorithm(int(self.algorithm), "signature")
        data = _as_bytes(self.data, "data")
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "data", data)
        if algorithm is Algorithm.ED25519 and len(data) != 64:
            raise NdauKeyError(f"ED25519 signature must be 64 bytes, got {len(data)}")
        if algorithm is Algorithm.SECP256K1 and not (
            8 <= len(data) <= _MAX_DER_SIGNATURE and data[0] == 0x30
        ):
            raise NdauKeyError("secp256k1 signature must be a DER SEQUENCE of at most 72 bytes")

    def to_text(self) -> str:
        return _b32encode(_add_checksum(_marshal(self.algorithm, self.data)))

    @classmethod
    def from_text(cls, text: str, expect: Algorithm | None = None) -> Signature:
        what = "signature"
        if not isinstance(text, str):
            raise NdauKeyError(f"{what}: expected text, got {type(text).__name__}")
        algorithm, data = _decode_container(text.strip(), what, 0)
        _check_expected(algorithm, expect, what)
        return cls(algorithm, data)


# --- operations -----------------------------------------------------------------------------


def generate_keypair(algorithm: Algorithm) -> tuple[PublicKey, PrivateKey]:
    """A fresh non-HD keypair, laid out as ndaumath's ``Generate`` lays it out."""
    algorithm = _algorithm(int(algorithm), "generate")
    if algorithm is Algorithm.ED25519:
        secret = ed25519.Ed25519PrivateKey.generate()
        public = _raw_public(secret.public_key())
        seed = secret.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return PublicKey(algorithm, public), PrivateKey(algorithm, seed + public)
    ec_secret = ec.generate_private_key(ec.SECP256K1())
    scalar = ec_secret.private_numbers().private_value.to_bytes(32, "big")
    return (
        PublicKey(algorithm, _compressed_public(ec_secret.public_key())),
        PrivateKey(algorithm, scalar),
    )


def _ecdsa_sha256_prehashed() -> ec.ECDSA:
    try:
        return ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True)
    except UnsupportedAlgorithm:  # OpenSSL < 3.2: still valid, just not byte-identical to Go
        return ec.ECDSA(utils.Prehashed(hashes.SHA256()))


def _low_s(der: bytes) -> bytes:
    r, s = utils.decode_dss_signature(der)
    if s > _SECP256K1_ORDER // 2:
        s = _SECP256K1_ORDER - s
    return utils.encode_dss_signature(r, s)


def sign(private_key: PrivateKey, message: bytes) -> Signature:
    """Sign ``message`` exactly as ndaumath's ``PrivateKey.Sign`` does."""
    if private_key.algorithm is Algorithm.ED25519:
        return Signature(private_key.algorithm, private_key._ed25519().sign(message))
    digest = hashlib.sha256(message).digest()
    der = _secp256k1_private(private_key.key).sign(digest, _ecdsa_sha256_prehashed())
    return Signature(private_key.algorithm, _low_s(der))


def verify(public_key: PublicKey, message: bytes, signature: Signature) -> bool:
    """True only for a valid signature by ``public_key``; algorithm mismatch is False, as in Go."""
    if public_key.algorithm != signature.algorithm:
        return False
    try:
        if public_key.algorithm is Algorithm.ED25519:
            ed25519.Ed25519PublicKey.from_public_bytes(public_key.key).verify(
                signature.data, message
            )
        else:
            _secp256k1_public(public_key.key).verify(
                signature.data,
                hashlib.sha256(message).digest(),
                ec.ECDSA(utils.Prehashed(hashes.SHA256())),
            )
    except (InvalidSignature, ValueError):
        return False
    return True
