"""Anchoring over JSON-RPC (the BASE_L2_RPC path) through the HTTP client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backend.notary.anchor import ChainError, rpc_chain
from backend.notary.keccak import keccak256
from backend.notary.verify import verify_notarization
from tests.notary.conftest import Parts, notarize
from tests.notary.rpc_node import RpcNode


@pytest.fixture
async def node() -> AsyncIterator[RpcNode]:
    instance = RpcNode()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def test_anchor_over_json_rpc_round_trips(parts: Parts, node: RpcNode) -> None:
    chain = rpc_chain(parts.http, parts.health, node.url, 5.0)
    try:
        node.fund(parts.key.address)
        info = await chain.info()
        assert info.kind == "rpc" and info.chain_id == node.w3.eth.chain_id
        assert info.genesis == "0x" + bytes(node.w3.eth.get_block(0)["hash"]).hex()
        digest = keccak256(b"report")
        prepared = await chain.prepare(parts.key, digest)
        assert await chain.broadcast(prepared.raw) == prepared.tx_hash
        receipt = await chain.wait_receipt(prepared.tx_hash, 5)
        assert receipt.status == 1
        tx = await chain.transaction(prepared.tx_hash)
        assert tx is not None and tx.data == digest and tx.sender == parts.key.address
        assert "eth_sendRawTransaction" in node.calls  # it really went over HTTP
        health = parts.health.get("evm-chain")
        assert health is not None and health.status == "ok"
        assert "secret-api-key" not in health.target  # URLs often carry provider keys
    finally:
        await chain.close()


async def test_full_pipeline_and_verification_on_the_rpc_chain(parts: Parts, node: RpcNode) -> None:
    chain = rpc_chain(parts.http, parts.health, node.url, 5.0)
    try:
        node.fund(parts.key.address)
        pipeline = parts.pipeline(chain=chain, confirmations=1)
        view = await notarize(pipeline)
        assert view.status == "completed" and view.chain == "rpc", view
        row = await pipeline.get_row(view.id)
        assert row is not None
        result = await verify_notarization(
            row, store=parts.store, pinata=None, chain=chain, confirmations=1
        )
        assert result.ok, result
    finally:
        await chain.close()


async def test_an_unreachable_rpc_node_is_a_clear_chain_error(parts: Parts, node: RpcNode) -> None:
    node.fail_methods.add("eth_chainId")
    chain = rpc_chain(parts.http, parts.health, node.url, 2.0)
    try:
        with pytest.raises(ChainError, match="HTTP 503"):
            await chain.info()
        health = parts.health.get("evm-chain")
        assert health is not None and health.status == "down"
        assert "secret-api-key" not in (health.last_error or "")
    finally:
        await chain.close()
