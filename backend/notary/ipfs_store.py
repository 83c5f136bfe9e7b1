"""A local, IPFS-compatible content store: what we add here can later be pinned anywhere.

Blocks are the exact dag-pb blocks ``ipfs add`` would produce (see :mod:`.cid`), kept one file
per block under ``<root>/blocks/<CIDv0>``. Writes are atomic (temp file + ``os.replace``) and
the root block is written last, so a readable root means the whole DAG is on disk. Reads
re-hash every block and finally recompute the CID from the reassembled bytes, so silent disk
corruption surfaces as :class:`ContentCorrupt` rather than wrong data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from backend.notary.cid import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    InvalidCid,
    MalformedBlock,
    base58btc_encode,
    build_dag,
    cid_v0,
    decode_pb_node,
    decode_unixfs,
    multihash_sha256,
    normalize_cid,
)

__all__ = ["ContentCorrupt", "ContentNotFound", "InvalidCid", "LocalIpfsStore"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_MAX_DEPTH = 16  # a balanced DAG of 174-ary nodes is never this deep for real data


class ContentNotFound(LookupError):
    """No block for that CID (or for one of its children) in this store."""


class ContentCorrupt(Exception):
    """A stored block does not hash to its name, or the DAG does not rebuild to the CID."""


class LocalIpfsStore:
    """Content-addressed file store keyed by the CID ``ipfs add`` would print."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._blocks = self._root / "blocks"

    @property
    def root(self) -> Path:
        return self._root

    def block_path(self, cid: str) -> Path:
        """Where the block for ``cid`` lives; validates first, so no text reaches the path."""
        return self._blocks / normalize_cid(cid)

    async def add(self, data: bytes) -> str:
        """Store ``data`` and return its CIDv0 (``Qm…``)."""
        root_cid, blocks = build_dag(bytes(data))
        await asyncio.to_thread(self._write_dag, root_cid, blocks)
        return root_cid

    async def cat(self, cid: str) -> bytes:
        """Return the bytes for ``cid``; raises ContentNotFound / ContentCorrupt / InvalidCid."""
        root = normalize_cid(cid)
        return await asyncio.to_thread(self._read_file, root)

    async def has(self, cid: str) -> bool:
        """True if the block for ``cid`` is present; children are written before their root.

        Cheap presence check only: integrity is verified by :meth:`cat`. Invalid CID text
        raises :class:`InvalidCid` rather than answering False.
        """
        path = self.block_path(cid)
        return await asyncio.to_thread(path.is_file)

    # --- blocking helpers (run in a worker thread) ------------------------------------------

    def _ensure_dirs(self) -> None:
        self._root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        self._blocks.mkdir(mode=_DIR_MODE, exist_ok=True)
        os.chmod(self._blocks, _DIR_MODE)

    def _write_dag(self, root_cid: str, blocks: dict[str, bytes]) -> None:
        self._ensure_dirs()
        for cid, block in blocks.items():
            if cid != root_cid:
                self._write_block(cid, block)
        self._write_block(root_cid, blocks[root_cid])
        _fsync_dir(self._blocks)

    def _write_block(self, cid: str, block: bytes) -> None:
        path = self._blocks / cid
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == block:
                return  # already stored intact; a damaged copy falls through and is replaced
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self._blocks)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(block)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _read_block(self, cid: str) -> bytes:
        try:
            block = (self._blocks / cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(f"block {cid} not in store") from None
        if base58btc_encode(multihash_sha256(block)) != cid:
            raise ContentCorrupt(f"block {cid} does not match its hash")
        return block

    def _read_file(self, root_cid: str) -> bytes:
        out = bytearray()
        self._append_node(root_cid, out, 0)
        data = bytes(out)
        if cid_v0(data) != root_cid:
            raise ContentCorrupt(f"content of {root_cid} does not rebuild to that CID")
        return data

    def _append_node(self, cid: str, out: bytearray, depth: int) -> int:
        """Append the file bytes under ``cid`` to ``out``; return how many were appended."""
        if depth > _MAX_DEPTH:
            raise ContentCorrupt(f"DAG under {cid} is implausibly deep")
        block = self._read_block(cid)
        try:
            links, payload = decode_pb_node(block)
            node = decode_unixfs(payload)
        except MalformedBlock as exc:
            raise ContentCorrupt(f"block {cid} is not a UnixFS file node: {exc}") from None
        if node.type not in (UNIXFS_FILE, UNIXFS_RAW):
            raise ContentCorrupt(f"block {cid} is UnixFS type {node.type}, not a file")
        if len(node.blocksizes) != len(links):
            raise ContentCorrupt(
                f"block {cid} has {len(links)} links but blocksizes for {len(node.blocksizes)}"
            )
        written = len(node.data)
        out += node.data
        for link, expected in zip(links, node.blocksizes, strict=True):
            try:
                child = base58btc_encode(link.hash)
                normalize_cid(child)
            except InvalidCid:
                raise ContentCorrupt(f"block {cid} links to a non sha2-256 CID") from None
            got = self._append_node(child, out, depth + 1)
            if got != expected:
                raise ContentCorrupt(f"child {child} holds {got} bytes, parent says {expected}")
            written += got
        if written != node.filesize:
            raise ContentCorrupt(f"block {cid} declares {node.filesize} bytes, holds {written}")
        return written


def _fsync_dir(path: Path) -> None:
    """Make the renames durable; best effort where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
