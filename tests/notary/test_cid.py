"""CIDs must equal what `ipfs add` prints, checked against vectors published by others."""

from __future__ import annotations

import hashlib

import pytest

from backend.notary.cid import (
    CHUNK_SIZE,
    MAX_LINKS,
    InvalidCid,
    base58btc_decode,
    base58btc_encode,
    block_cid,
    build_dag,
    cid_v0,
    cid_v1,
    decode_pb_node,
    decode_unixfs,
    normalize_cid,
    parse_cid,
    to_cid_v1,
)

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"

# Single-block vectors.
SMALL_VECTORS = [
    (b"hello world\n", HELLO_V0),
    (b"", EMPTY_V0),
    # ipfs/kubo test/sharness/t0040-add-and-cat.sh: `echo "Hello Worlds!" | ipfs add`.
    (b"Hello Worlds!\n", "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH"),
    # go-ipfs sharness add/cat test: `echo "some content" > afile; ipfs add -q afile`.
    (b"some content\n", "Qmb1EXrDyKhNWfvLPYK4do3M9nU7BuLAcbqBir6aUrDsRY"),
    # ethereum/solidity test/libsolutil/IpfsHash.cpp (test_small, test_largest_unchunked).
    (b"x", "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC"),
    (b"Solidity\n", "QmSsm9M7PQRBnyiz1smizk8hZw3URfk8fSeHzeTo3oZidS"),
    (bytes(200), "QmSXR1N23uWzsANi8wpxMPw5dmmhqBVUAb4hUrHVLpNaMr"),
    (bytes(100_000), "QmYgKa25YqEGpQmmZtPPFMNK3kpqqneHk6nMSEUYryEX1C"),
    (bytes(CHUNK_SIZE - 1), "QmbNDspMkzkMFKyS3eCJGedG7GWRQHSCzJCZLjxP7wyVAx"),
]

# Multi-chunk vectors (N zero bytes), ethereum/solidity test/libsolutil/IpfsHash.cpp:
# test_smallest_chunked, test_large, test_largest_one_level, test_smallest_multi_level,
# test_multi_level_tree. The last three cross the 174-link boundary into a 2-level tree.
ZERO_VECTORS = [
    (CHUNK_SIZE + 1, "QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q"),
    (1_310_710, "QmNg7BJo8gEMDK8yGQbHEwPtycesnE6FUULX5iVd5TAL9f"),
    (CHUNK_SIZE * MAX_LINKS, "QmY4HSz1oVGdUzb8poVYPLsoqBZjH6LZrtgnme9wWn2Qko"),
    (CHUNK_SIZE * MAX_LINKS + 1, "QmehMASWcBsX7VcEQqs6rpR5AHoBfKyBVEgmkJHjpPg8jq"),
    (46_661_632, "QmaTb1sT9hrSXJLmf8bxJ9NuwndiHuMLsgNLgkS2eXu3Xj"),
]


@pytest.mark.parametrize(("data", "expected"), SMALL_VECTORS)
def test_known_single_block_cids(data: bytes, expected: str) -> None:
    assert cid_v0(data) == expected


@pytest.mark.parametrize(("size", "expected"), ZERO_VECTORS)
def test_known_multi_chunk_cids(size: int, expected: str) -> None:
    assert cid_v0(bytes(size)) == expected


def test_hello_world_block_bytes_and_digest() -> None:
    root, blocks = build_dag(b"hello world\n")
    # PBNode{Data: UnixFS{Type: File, Data: "hello world\n", filesize: 12}}
    assert blocks == {root: b"\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c"}
    # go-ipfs CHANGELOG (0.4.18, `ipfs cid format -b base16 -f '0x%D' Qm…`): the sha256 digest.
    digest = "46d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e"
    assert hashlib.sha256(blocks[root]).hexdigest() == digest


def test_empty_file_block() -> None:
    root, blocks = build_dag(b"")
    assert root == EMPTY_V0
    assert blocks == {EMPTY_V0: b"\x0a\x04\x08\x02\x18\x00"}


def test_cid_v1_matches_ipfs_cid_base32() -> None:
    # go-ipfs CHANGELOG (0.4.18): `ipfs cid base32 QmT78…` prints this.
    v1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
    assert cid_v1(b"hello world\n") == v1
    assert to_cid_v1(HELLO_V0) == v1
    assert normalize_cid(v1) == HELLO_V0


def test_multi_chunk_layout_links_before_data() -> None:
    data = bytes(range(256)) * 4096 + b"tail"  # 4 full chunks + 4 bytes
    root, blocks = build_dag(data)
    links, payload = decode_pb_node(blocks[root])
    assert blocks[root][0] == 0x12  # field 2 (Links) is encoded first, as kubo does
    fs = decode_unixfs(payload)
    assert fs.filesize == len(data)
    assert fs.blocksizes == (CHUNK_SIZE,) * 4 + (4,)
    assert fs.data == b""
    assert [link.name for link in links] == [""] * 5
    children = [blocks[base58btc_encode(link.hash)] for link in links]
    assert [link.tsize for link in links] == [len(c) for c in children]
    assert b"".join(decode_unixfs(decode_pb_node(c)[1]).data for c in children) == data
    assert all(block_cid(block) == cid for cid, block in blocks.items())


def test_two_level_tree_shape() -> None:
    root, blocks = build_dag(bytes(CHUNK_SIZE * MAX_LINKS + 1))
    links, payload = decode_pb_node(blocks[root])
    assert decode_unixfs(payload).blocksizes == (CHUNK_SIZE * MAX_LINKS, 1)
    full, tail = (decode_pb_node(blocks[base58btc_encode(link.hash)])[0] for link in links)
    assert (len(full), len(tail)) == (MAX_LINKS, 1)
    # Tsize of a link = child block + everything below it.
    below = len(blocks[base58btc_encode(links[0].hash)]) + sum(link.tsize for link in full)
    assert links[0].tsize == below


def test_deterministic() -> None:
    data = hashlib.sha256(b"seed").digest() * 40_000
    assert build_dag(data) == build_dag(bytearray(data))
    assert cid_v0(data) != cid_v0(data + b"\0")


def test_base58_roundtrip_and_leading_zeros() -> None:
    for raw in (b"", b"\0", b"\0\0\x01", bytes(range(40))):
        assert base58btc_decode(base58btc_encode(raw)) == raw
    assert base58btc_encode(b"\0\0\x01") == "112"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "../../etc/passwd",
        "Qm" + "/" * 44,
        HELLO_V0[:-1],
        HELLO_V0 + "a",
        HELLO_V0.replace("T", "0", 1),  # '0' is not base58
        HELLO_V0.replace("T", "é", 1),  # not ASCII
        HELLO_V0[:-1] + " ",  # whitespace is not base58
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\n",
        "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",  # CIDv1 in base58, not accepted
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",  # raw codec
        "BAFYBEICG2REBJOOFV4KBYOVKW7AF3RPIITVNL6I7CKCYWAQ6XJCXNC2MBY",  # uppercase
        "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mbz",  # non-canonical tail
    ],
)
def test_bad_cid_text_rejected(text: str) -> None:
    with pytest.raises(InvalidCid):
        parse_cid(text)


def test_non_sha256_v0_rejected() -> None:
    other = base58btc_encode(b"\x13\x20" + bytes(32))  # sha2-512 code, 32-byte digest
    with pytest.raises(InvalidCid):
        parse_cid(other)
