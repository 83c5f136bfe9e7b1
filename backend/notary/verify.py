"""Verification of a notarization, step by step, from the outside in.

1. ``pin`` — fetch the content by its CID (Pinata's gateway, or the local store) and check the
   bytes really are that CID (recomputed as ``ipfs add`` would);
2. ``hash`` — parse those bytes, canonicalize them (RFC 8785) and compare their Keccak-256 with
   the recorded hash; the document must also name this notarization;
3. ``sign`` — recover the EIP-191 signer from the recorded hash and signature: it must be the
   recorded signer and the signer the document itself names;
4. ``anchor`` — the transaction exists on the same chain, was sent by the signer, carries exactly
   the hash as its data, succeeded, and sits in the recorded block;
5. ``confirm`` — that block has the configured number of confirmations.

Every check runs even when an earlier one failed (so the answer shows everything that is wrong);
``failed_step`` names the first step that failed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from backend.notary.anchor import AnchorChain, ChainError
from backend.notary.canonical import CanonicalJSONError, canonical_json
from backend.notary.cid import InvalidCid, cid_v0, to_cid_v1
from backend.notary.ipfs_store import ContentCorrupt, ContentNotFound, LocalIpfsStore
from backend.notary.keccak import hash_from_hex, keccak_hex
from backend.notary.models import NotarizationRow
from backend.notary.pinata import PinataClient, PinataError
from backend.notary.signing import recover_signer


@dataclass(slots=True)
class Check:
    step: str
    ok: bool | None  # None: could not be checked (says why)
    detail: str


@dataclass(slots=True)
class Verification:
    id: int
    ok: bool
    failed_step: str | None
    checks: list[Check] = field(default_factory=list)


async def verify_notarization(
    row: NotarizationRow,
    *,
    store: LocalIpfsStore,
    pinata: PinataClient | None,
    chain: AnchorChain,
    confirmations: int,
) -> Verification:
    if row.status != "completed":
        check = Check("pipeline", False, f"notarization is {row.status}, not completed")
        return Verification(row.id, False, "pipeline", [check])
    content, pin = await _check_pin(row, store, pinata)
    checks = [pin, _check_hash(row, content), _check_signature(row, content)]
    anchor, block = await _check_anchor(row, chain)
    checks += [anchor, await _check_confirmations(row, chain, block, confirmations)]
    failed = next((c.step for c in checks if c.ok is not True), None)
    return Verification(row.id, failed is None, failed, checks)


async def _check_pin(
    row: NotarizationRow, store: LocalIpfsStore, pinata: PinataClient | None
) -> tuple[bytes | None, Check]:
    if not row.cid:
        return None, Check("pin", False, "no CID recorded")
    try:
        if row.pin_provider == "pinata":
            if pinata is None:
                return None, Check("pin", None, "pinned on Pinata, but no Pinata JWT is set here")
            data = await pinata.cat(row.cid)
            computed = await asyncio.to_thread(cid_v0, data)
            if row.cid not in (computed, to_cid_v1(computed)):
                return None, Check("pin", False, f"gateway bytes are {computed}, not {row.cid}")
            where = "Pinata gateway"
        else:
            data = await store.cat(row.cid)  # re-hashes every block and the whole file
            where = "local store"
    except (ContentNotFound, PinataError) as exc:
        return None, Check("pin", False, f"content for {row.cid} not found: {exc}")
    except (ContentCorrupt, InvalidCid) as exc:
        return None, Check("pin", False, f"content does not match {row.cid}: {exc}")
    return data, Check("pin", True, f"{len(data)} bytes at {row.cid} ({where}), CID recomputed")


def _check_hash(row: NotarizationRow, content: bytes | None) -> Check:
    if content is None:
        return Check("hash", None, "not checked: no content")
    try:
        document = json.loads(content)
        canonical = canonical_json(document)
    except (ValueError, CanonicalJSONError) as exc:
        return Check("hash", False, f"content is not canonicalizable JSON: {exc}")
    digest = keccak_hex(canonical)
    if digest != row.hash_hex:
        return Check("hash", False, f"content hashes to {digest}, recorded {row.hash_hex}")
    if not isinstance(document, dict) or document.get("notarization_id") != row.id:
        return Check("hash", False, "the document does not name this notarization")
    return Check("hash", True, f"keccak256 of the canonical content is {digest}")


def _check_signature(row: NotarizationRow, content: bytes | None) -> Check:
    if not row.signature or not row.hash_hex or not row.signer:
        return Check("sign", False, "no signature recorded")
    try:
        signer = recover_signer(hash_from_hex(row.hash_hex), row.signature)
    except ValueError as exc:
        return Check("sign", False, f"signature unusable: {exc}")
    if signer != row.signer:
        return Check("sign", False, f"signature recovers {signer}, recorded signer {row.signer}")
    if content is not None:
        try:
            declared = json.loads(content).get("notary", {}).get("signer")
        except (ValueError, AttributeError):
            declared = None
        if declared != signer:
            return Check("sign", False, f"document names signer {declared}, signature is {signer}")
    return Check("sign", True, f"EIP-191 signature recovers {signer}")


async def _check_anchor(row: NotarizationRow, chain: AnchorChain) -> tuple[Check, int | None]:
    if not row.tx_hash or not row.hash_hex:
        return Check("anchor", False, "no anchor transaction recorded"), None
    try:
        info = await chain.info()
        if row.chain_id != str(info.chain_id) or row.chain_genesis != info.genesis:
            why = (
                "the embedded chain lives in memory and was restarted since"
                if info.kind == "embedded" and row.chain == "embedded"
                else f"this backend's chain is {info.chain_id}, the anchor is on {row.chain_id}"
            )
            return Check("anchor", None, f"anchor chain not available: {why}"), None
        tx = await chain.transaction(row.tx_hash)
    except ChainError as exc:
        return Check("anchor", None, f"chain unreachable: {exc}"), None
    if tx is None:
        return Check("anchor", False, f"transaction {row.tx_hash} not found on chain"), None
    problems = []
    if tx.data != hash_from_hex(row.hash_hex):
        problems.append(f"its data is 0x{tx.data.hex()[:72]}, not the hash")
    if row.signer and tx.sender.lower() != row.signer.lower():
        problems.append(f"it was sent by {tx.sender}, not the signer")
    if tx.receipt is None:
        problems.append("it is not mined")
    elif tx.receipt.status != 1:
        problems.append("it reverted")
    elif tx.receipt.block_number != row.block_number:
        problems.append(f"it is in block {tx.receipt.block_number}, recorded {row.block_number}")
    if problems:
        return Check("anchor", False, f"transaction {row.tx_hash}: " + "; ".join(problems)), None
    block = tx.receipt.block_number if tx.receipt else None
    return Check("anchor", True, f"{row.tx_hash} carries the hash, block {block}"), block


async def _check_confirmations(
    row: NotarizationRow, chain: AnchorChain, block: int | None, wanted: int
) -> Check:
    if block is None:
        return Check("confirm", None, "not checked: anchor not verified")
    try:
        head = await chain.head()
    except ChainError as exc:
        return Check("confirm", None, f"chain unreachable: {exc}")
    have = head - block + 1
    return Check("confirm", have >= wanted, f"{have} confirmations (wanted {wanted})")
