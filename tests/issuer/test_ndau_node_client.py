"""The ndau node client against the node simulator, which enforces the real Issue rules."""

from __future__ import annotations

import pytest

from backend.core.http import HttpClientFactory
from backend.issuer.errors import NdauNodeError
from backend.issuer.ndau_node import NdauNodeClient
from backend.ndau.keys import Algorithm, generate_keypair
from backend.ndau.tx import NAPU_PER_NDAU, IssueTx
from backend.sim.ndau_node import DetailFault, NdauNodeSimulator


def signed(sim: NdauNodeSimulator, qty: int, sequence: int) -> IssueTx:
    tx = IssueTx(qty=qty, sequence=sequence)
    for key in sim.validation_private:
        tx = tx.signed_by(key)
    return tx


async def test_reads_rfe_account_and_supply(
    http: HttpClientFactory, ndau_sim: NdauNodeSimulator
) -> None:
    node = NdauNodeClient(http, ndau_sim.url)
    account = await node.rfe_account()
    assert account.address == ndau_sim.rfe.address
    assert account.sequence == 4170
    assert [k.to_text() for k in account.validation_keys] == [
        k.to_text() for k in ndau_sim.rfe.validation_keys
    ]
    assert {k.algorithm for k in account.validation_keys} == {
        Algorithm.ED25519,
        Algorithm.SECP256K1,
    }
    supply = await node.supply()
    assert supply.total_released_napu == 10_000_000 * NAPU_PER_NDAU
    assert supply.issuable_napu == (10_000_000 - 2_919_000) * NAPU_PER_NDAU


async def test_submit_then_resubmit_is_already_committed(
    http: HttpClientFactory, ndau_sim: NdauNodeSimulator
) -> None:
    node = NdauNodeClient(http, ndau_sim.url)
    tx = signed(ndau_sim, 5 * NAPU_PER_NDAU, 4171)
    pre = await node.prevalidate(tx)
    assert pre.accepted and not pre.already_committed and pre.tx_hash == tx.tx_hash()
    first = await node.submit(tx)
    assert first.accepted and first.status == 200 and not first.already_committed
    again = await node.submit(tx)
    assert again.accepted and again.already_committed and again.status == 202
    assert (await node.prevalidate(tx)).already_committed
    detail = await node.transaction(tx)
    assert detail is not None and detail.tx_type == "Issue" and detail.block_height > 0
    assert detail.tx_data["qty"] == 5 * NAPU_PER_NDAU and detail.tx_data["sequence"] == 4171
    assert await node.transaction(IssueTx(qty=1, sequence=1)) is None
    assert len(ndau_sim.issue_txs()) == 1 and ndau_sim.rfe.sequence == 4171


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("empty", "empty body"),
        ("no_height", "no BlockHeight"),
        ("foreign", "not our Issue"),
    ],
)
async def test_a_malformed_or_foreign_detail_is_an_error_not_an_answer(
    http: HttpClientFactory, ndau_sim: NdauNodeSimulator, fault: DetailFault, error: str
) -> None:
    node = NdauNodeClient(http, ndau_sim.url)
    tx = signed(ndau_sim, 5 * NAPU_PER_NDAU, 4171)
    for committed in (False, True):  # neither "not on the chain" nor "confirmed"
        ndau_sim.garble_next_detail = [fault]
        with pytest.raises(NdauNodeError, match=error):
            await node.transaction(tx)
        if not committed:
            assert (await node.submit(tx)).accepted
    assert await node.transaction(tx) is not None


async def test_an_empty_200_to_submit_is_an_error_not_an_acceptance(
    http: HttpClientFactory, ndau_sim: NdauNodeSimulator
) -> None:
    node = NdauNodeClient(http, ndau_sim.url)
    tx = signed(ndau_sim, 5 * NAPU_PER_NDAU, 4171)
    ndau_sim.empty_next_submit_reply = 1
    with pytest.raises(NdauNodeError, match="empty body"):
        await node.submit(tx)
    assert ndau_sim.issue_txs() == []
    assert (await node.submit(tx)).accepted and len(ndau_sim.issue_txs()) == 1


async def test_node_rules_refuse_bad_issues(
    http: HttpClientFactory, ndau_sim: NdauNodeSimulator
) -> None:
    node = NdauNodeClient(http, ndau_sim.url)
    low = await node.prevalidate(signed(ndau_sim, 1, 4170))
    assert not low.accepted and low.status == 400 and low.message == "sequence too low"
    unsigned = await node.submit(IssueTx(qty=1, sequence=4171))
    assert not unsigned.accepted and "no signatures" in (unsigned.message or "")
    _public, stranger = generate_keypair(Algorithm.ED25519)
    forged = await node.submit(IssueTx(qty=1, sequence=4171).signed_by(stranger))
    assert not forged.accepted and "invalid signature" in (forged.message or "")
    too_much = await node.prevalidate(signed(ndau_sim, 8_000_000 * NAPU_PER_NDAU, 4171))
    assert not too_much.accepted and "RFE" in (too_much.message or "")
    assert ndau_sim.issue_txs() == []


async def test_unreachable_node_is_a_clear_error(http: HttpClientFactory) -> None:
    node = NdauNodeClient(http, "http://127.0.0.1:9")
    with pytest.raises(NdauNodeError, match="unreachable"):
        await node.supply()
