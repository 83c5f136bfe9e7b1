"""CIDs exactly as `ipfs add` (kubo defaults) computes them, without an IPFS node.

Kubo defaults reproduced here: CIDv0, dag-pb nodes holding UnixFS ``File`` data, sha2-256,
fixed-size chunks of 262144 bytes, balanced layout with at most 174 links per node, no raw
leaves. Byte layout follows boxo (``ipld/merkledag/coding.go``, ``ipld/unixfs/unixfs.go``,
``ipld/unixfs/importer/balanced/builder.go``, ``importer/helpers/dagbuilder.go``):

* PBNode is written Links (field 2) first, then Data (field 1); every PBLink carries Hash (1),
  Name (2, always present, empty here) and Tsize (3, child block size plus its links' Tsizes).
* UnixFS Data is written Type (1) = File, Data (2, only for leaves with bytes), filesize (3,
  always present), blocksizes (4, one unpacked varint per child, internal nodes only).
* Leaves are UnixFS ``File`` nodes (kubo's historical choice, kept for stable hashes); a file
  that fits one chunk is just that leaf; an empty file is a leaf with no Data field.

base58btc is the ``base58`` package and base32 the standard library's. The dag-pb protobuf and
the one multihash we use (sha2-256) are written here: dag-pb puts field 2 before field 1, which
protobuf libraries do not do, and the multihash is a fixed two-byte prefix.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import base58

CHUNK_SIZE = 262_144
MAX_LINKS = 174

UNIXFS_RAW = 0
UNIXFS_FILE = 2

_SHA2_256 = 0x12
_SHA2_256_LEN = 32
_DAG_PB = 0x70
_V0_LEN = 46  # base58btc of the 34-byte sha2-256 multihash
_V1_LEN = 59  # "b" + base32(0x01 0x70 + multihash)
_B32_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class InvalidCid(ValueError):
    """CID text that is not a dag-pb/sha2-256 CID this module can address."""


class MalformedBlock(ValueError):
    """Block bytes that are not the dag-pb/UnixFS file encoding this module produces."""


# --- base encodings -------------------------------------------------------------------------


def base58btc_encode(raw: bytes) -> str:
    return base58.b58encode(raw).decode("ascii")


def base58btc_decode(text: str) -> bytes:
    if not text.isascii():
        raise InvalidCid("not base58btc: non-ASCII text")
    try:
        return base58.b58decode(text)
    except ValueError as exc:  # names the first character outside the alphabet
        raise InvalidCid(f"not base58btc: {exc}") from None


def _b32_encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _b32_decode(text: str) -> bytes:
    if not text or not set(text) <= _B32_CHARS:
        raise InvalidCid("not lowercase base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except ValueError as exc:
        raise InvalidCid(f"bad base32: {exc}") from None


# --- protobuf (just what dag-pb and UnixFS need) --------------------------------------------


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _field_bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise MalformedBlock("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, int or bytes); only wire types 0 and 2 occur in our messages."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield field, value
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise MalformedBlock("truncated length-delimited field")
            yield field, buf[pos : pos + size]
            pos += size
        else:
            raise MalformedBlock(f"unsupported wire type {wire} (field {field})")


@dataclass(frozen=True, slots=True)
class Link:
    """A PBLink: the child's CID bytes (for CIDv0, its multihash), name and cumulative size."""

    hash: bytes
    name: str
    tsize: int


@dataclass(frozen=True, slots=True)
class UnixfsData:
    type: int
    data: bytes
    filesize: int
    blocksizes: tuple[int, ...]


def encode_unixfs_file(data: bytes, filesize: int, blocksizes: tuple[int, ...] = ()) -> bytes:
    out = _field_varint(1, UNIXFS_FILE)
    if data:  # kubo leaves the field unset (nil) for internal nodes and the empty file
        out += _field_bytes(2, data)
    out += _field_varint(3, filesize)
    for size in blocksizes:
        out += _field_varint(4, size)
    return out


def encode_pb_node(links: list[Link], data: bytes) -> bytes:
    out = bytearray()
    for link in links:
        body = (
            _field_bytes(1, link.hash)
            + _field_bytes(2, link.name.encode("utf-8"))
            + _field_varint(3, link.tsize)
        )
        out += _field_bytes(2, body)
    out += _field_bytes(1, data)
    return bytes(out)


def decode_pb_node(block: bytes) -> tuple[list[Link], bytes]:
    links: list[Link] = []
    data = b""
    for field, value in _fields(block):
        if field == 2 and isinstance(value, bytes):
            parts: dict[int, int | bytes] = dict(_fields(value))
            link_hash, name, tsize = parts.get(1), parts.get(2, b""), parts.get(3, 0)
            if not isinstance(link_hash, bytes) or not isinstance(name, bytes):
                raise MalformedBlock("PBLink without a Hash")
            if not isinstance(tsize, int):
                raise MalformedBlock("PBLink Tsize is not a varint")
            links.append(Link(link_hash, name.decode("utf-8", "replace"), tsize))
        elif field == 1 and isinstance(value, bytes):
            data = value
        else:
            raise MalformedBlock(f"unexpected PBNode field {field}")
    return links, data


def decode_unixfs(payload: bytes) -> UnixfsData:
    kind: int | None = None
    data = b""
    filesize = 0
    blocksizes: list[int] = []
    for field, value in _fields(payload):
        if field == 1 and isinstance(value, int):
            kind = value
        elif field == 2 and isinstance(value, bytes):
            data = value
        elif field == 3 and isinstance(value, int):
            filesize = value
        elif field == 4 and isinstance(value, int):
            blocksizes.append(value)
        # hashType, fanout, mode, mtime: not used by files we read; ignored like kubo does.
    if kind is None:
        raise MalformedBlock("UnixFS Data without a Type")
    return UnixfsData(kind, data, filesize, tuple(blocksizes))


# --- multihash / CID ------------------------------------------------------------------------


def multihash_sha256(block: bytes) -> bytes:
    return bytes((_SHA2_256, _SHA2_256_LEN)) + hashlib.sha256(block).digest()


def block_cid(block: bytes) -> str:
    """CIDv0 of one dag-pb block (a CIDv0 is the base58btc multihash)."""
    return base58btc_encode(multihash_sha256(block))


def parse_cid(text: str) -> bytes:
    """Return the sha2-256 multihash named by a CIDv0 (``Qm…``) or dag-pb CIDv1 (``bafy…``).

    Strict on purpose: the result is used to build file names, so only canonical text is
    accepted (re-encoding must give back the exact input).
    """
    if not isinstance(text, str):
        raise InvalidCid("CID must be a str")
    if len(text) == _V0_LEN and text.startswith("Qm"):
        mh = base58btc_decode(text)
        if len(mh) != 2 + _SHA2_256_LEN or mh[:2] != bytes((_SHA2_256, _SHA2_256_LEN)):
            raise InvalidCid(f"not a sha2-256 CIDv0: {text!r}")
    elif len(text) == _V1_LEN and text.startswith("b"):
        raw = _b32_decode(text[1:])
        if raw[:2] != bytes((1, _DAG_PB)) or raw[2:4] != bytes((_SHA2_256, _SHA2_256_LEN)):
            raise InvalidCid(f"not a dag-pb sha2-256 CIDv1: {text!r}")
        mh = raw[2:]
        if len(mh) != 2 + _SHA2_256_LEN:
            raise InvalidCid(f"bad digest length: {text!r}")
    else:
        raise InvalidCid(f"not a CIDv0/CIDv1 dag-pb sha2-256 CID: {text[:80]!r}")
    if text not in (base58btc_encode(mh), cid_v1_from_multihash(mh)):
        raise InvalidCid(f"non-canonical CID text: {text!r}")
    return mh


def normalize_cid(text: str) -> str:
    """Validate ``text`` and return it as CIDv0 (the form the store keys blocks by)."""
    return base58btc_encode(parse_cid(text))


def cid_v1_from_multihash(mh: bytes) -> str:
    return "b" + _b32_encode(bytes((1, _DAG_PB)) + mh)


def to_cid_v1(cid: str) -> str:
    """Render any accepted CID as CIDv1 base32 (``bafy…``), what gateways show for v0 CIDs."""
    return cid_v1_from_multihash(parse_cid(cid))


# --- DAG building ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Built:
    mh: bytes
    tsize: int  # cumulative block bytes (PBLink Tsize)
    filesize: int  # file bytes below this node (UnixFS blocksizes entry)


class _Builder:
    """Mirror of boxo's balanced.Layout over an in-memory buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.blocks: dict[str, bytes] = {}

    def done(self) -> bool:
        return self._pos >= len(self._data)

    def _emit(self, block: bytes, tsize: int, filesize: int) -> _Built:
        mh = multihash_sha256(block)
        self.blocks[base58btc_encode(mh)] = block
        return _Built(mh, tsize, filesize)

    def leaf(self) -> _Built:
        chunk = bytes(self._data[self._pos : self._pos + CHUNK_SIZE])
        self._pos += len(chunk)
        block = encode_pb_node([], encode_unixfs_file(chunk, len(chunk)))
        return self._emit(block, len(block), len(chunk))

    def internal(self, children: list[_Built]) -> _Built:
        sizes = tuple(c.filesize for c in children)
        links = [Link(c.mh, "", c.tsize) for c in children]
        block = encode_pb_node(links, encode_unixfs_file(b"", sum(sizes), sizes))
        return self._emit(block, len(block) + sum(c.tsize for c in children), sum(sizes))

    def fill(self, children: list[_Built], depth: int) -> _Built:
        while len(children) < MAX_LINKS and not self.done():
            children.append(self.leaf() if depth == 1 else self.fill([], depth - 1))
        return self.internal(children)


def build_dag(data: bytes) -> tuple[str, dict[str, bytes]]:
    """Chunk ``data`` like ``ipfs add`` and return (root CIDv0, {CIDv0: block bytes}).

    Each time the tree is full the old root becomes the first child of a new, deeper root;
    so all leaves sit at the same depth and the result equals kubo's for the same bytes.
    """
    builder = _Builder(bytes(data))
    root = builder.leaf()  # for empty input this is the canonical empty-file node
    depth = 1
    while not builder.done():
        root = builder.fill([root], depth)
        depth += 1
    return base58btc_encode(root.mh), builder.blocks


def cid_v0(data: bytes) -> str:
    """The ``Qm…`` CID that ``ipfs add`` prints for these bytes."""
    return build_dag(data)[0]


def cid_v1(data: bytes) -> str:
    """The same DAG as :func:`cid_v0`, rendered as CIDv1 base32 (``ipfs cid base32``)."""
    return to_cid_v1(cid_v0(data))
