"""The local store must hand back exactly what was added, or fail loudly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from backend.notary.cid import (
    CHUNK_SIZE,
    InvalidCid,
    block_cid,
    build_dag,
    encode_pb_node,
    encode_unixfs_file,
    to_cid_v1,
)
from backend.notary.ipfs_store import ContentCorrupt, ContentNotFound, LocalIpfsStore

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
MULTI = bytes(range(251)) * 5000  # 1,255,000 bytes: 5 chunks, non-repeating leaves


@pytest.fixture
def store(tmp_path: Path) -> LocalIpfsStore:
    return LocalIpfsStore(tmp_path / "ipfs")


async def test_add_returns_ipfs_cid_and_round_trips(store: LocalIpfsStore) -> None:
    assert await store.add(b"hello world\n") == HELLO_V0
    assert await store.has(HELLO_V0)
    assert await store.cat(HELLO_V0) == b"hello world\n"
    assert await store.cat(to_cid_v1(HELLO_V0)) == b"hello world\n"


async def test_empty_and_multi_chunk_round_trip(store: LocalIpfsStore) -> None:
    assert await store.add(b"") == EMPTY_V0
    assert await store.cat(EMPTY_V0) == b""
    cid = await store.add(MULTI)
    assert cid == build_dag(MULTI)[0]
    assert await store.cat(cid) == MULTI


async def test_add_is_idempotent(store: LocalIpfsStore) -> None:
    first = await store.add(MULTI)
    before = sorted(p.name for p in (store.root / "blocks").iterdir())
    assert await store.add(MULTI) == first
    assert sorted(p.name for p in (store.root / "blocks").iterdir()) == before
    assert not [name for name in before if name.startswith(".tmp")]


async def test_permissions(store: LocalIpfsStore) -> None:
    cid = await store.add(b"secret-ish")
    assert stat.S_IMODE(os.stat(store.root / "blocks").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.block_path(cid)).st_mode) == 0o600


async def test_missing_content(store: LocalIpfsStore) -> None:
    assert not await store.has(HELLO_V0)
    with pytest.raises(ContentNotFound):
        await store.cat(HELLO_V0)


async def test_missing_child_block(store: LocalIpfsStore) -> None:
    cid, blocks = build_dag(MULTI)
    await store.add(MULTI)
    child = next(c for c in blocks if c != cid)
    store.block_path(child).unlink()
    assert await store.has(cid)  # presence check only looks at the root
    with pytest.raises(ContentNotFound, match=child):
        await store.cat(cid)


async def test_corrupt_leaf_detected(store: LocalIpfsStore) -> None:
    cid, blocks = build_dag(MULTI)
    await store.add(MULTI)
    leaf = next(c for c in blocks if c != cid)
    path = store.block_path(leaf)
    damaged = bytearray(path.read_bytes())
    damaged[-10] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(ContentCorrupt, match=leaf):
        await store.cat(cid)
    # Re-adding repairs the damaged copy.
    await store.add(MULTI)
    assert await store.cat(cid) == MULTI


async def test_corrupt_single_block_detected(store: LocalIpfsStore) -> None:
    await store.add(b"hello world\n")
    store.block_path(HELLO_V0).write_bytes(b"\x0a\x12\x08\x02\x12\x0cHELLO world\n\x18\x0c")
    with pytest.raises(ContentCorrupt):
        await store.cat(HELLO_V0)


async def test_block_named_right_but_wrong_dag_detected(store: LocalIpfsStore) -> None:
    # A well-formed block that hashes to its own name but is not our canonical DAG for the
    # bytes it holds (filesize lies) must not be served.
    block = encode_pb_node([], encode_unixfs_file(b"abc", 4))
    cid = block_cid(block)
    (store.root / "blocks").mkdir(parents=True)
    store.block_path(cid).write_bytes(block)
    with pytest.raises(ContentCorrupt):
        await store.cat(cid)


@pytest.mark.parametrize(
    "text",
    ["../../etc/passwd", "blocks/../x", "/abs/path", "", "Qm", HELLO_V0 + "/", "bafy.."],
)
async def test_bad_cid_rejected_before_filesystem(store: LocalIpfsStore, text: str) -> None:
    for call in (store.cat, store.has):
        with pytest.raises(InvalidCid):
            await call(text)
    assert not store.root.exists()


async def test_large_chunk_boundary(store: LocalIpfsStore) -> None:
    data = b"\x5a" * CHUNK_SIZE
    cid = await store.add(data)
    assert len(os.listdir(store.root / "blocks")) == 1  # exactly one chunk: root is the leaf
    assert await store.cat(cid) == data
