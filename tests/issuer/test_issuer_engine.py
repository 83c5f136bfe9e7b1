"""The issuer state machine in-process, against the simulators and a real signing service that
dials the issuer's real websocket route."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.core.audit import AuditEntry
from backend.core.lease import LeaseRow
from backend.issuer.models import IssueRow
from backend.issuer.service import DecisionConflict
from backend.ndau.tx import INT64_MAX, NAPU_PER_NDAU
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import DetailFault, NdauNodeSimulator
from hashinsight_contract.events import IssueAlert, parse_payload
from hashinsight_contract.issuer import Amount
from tests.helpers import eventually
from tests.issuer.issuer_harness import (
    RunningIssuer,
    SignerRunner,
    issuer_settings,
    start_issuer,
    start_signer,
)


class World:
    """Simulators, issuers and signers over one database (each test runs on SQLite and on
    PostgreSQL: the ledger's exactly-once holds on both)."""

    def __init__(
        self,
        tmp_path: Path,
        bitmart: BitmartSimulator,
        node: NdauNodeSimulator,
        database_url: str,
    ):
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.bitmart = bitmart
        self.node = node
        self.issuers: list[RunningIssuer] = []
        self.signers: list[SignerRunner] = []

    async def issuer(self, **overrides: Any) -> RunningIssuer:
        settings = issuer_settings(
            self.tmp_path, self.bitmart, self.node, database_url=self.database_url, **overrides
        )
        running = await start_issuer(settings, schema="none")
        self.issuers.append(running)
        return running

    def signer(self, issuer: RunningIssuer) -> SignerRunner:
        runner = start_signer(self.node, self.tmp_path, [issuer.signer_url])
        self.signers.append(runner)
        return runner

    def sell(self, size: str, *, side: str = "sell") -> dict[str, Any]:
        return self.bitmart.add_trade(side=side, size=size, at_ms=int(time.time() * 1000) - 5)

    async def close(self) -> None:
        for signer in self.signers:
            await signer.stop()
        for issuer in self.issuers:
            await issuer.stop()


@pytest.fixture
async def world(
    tmp_path: Path, bitmart_sim: BitmartSimulator, ndau_sim: NdauNodeSimulator, database_url: str
) -> AsyncIterator[World]:
    w = World(tmp_path, bitmart_sim, ndau_sim, database_url)
    try:
        yield w
    finally:
        await w.close()


async def states(issuer: RunningIssuer) -> list[tuple[int, str]]:
    page = await issuer.service.list_issues(None, 100, None)
    return [(issue.id, issue.state) for issue in page.issues]


async def wait_state(issuer: RunningIssuer, issue_id: int, state: str, within_s: float = 30) -> Any:
    async def check() -> Any:
        row = await issuer.service.store.get(issue_id)
        return row if row is not None and row.state == state else None

    return await eventually(check, within_s)


async def wait_error(issuer: RunningIssuer, issue_id: int, text: str) -> Any:
    """The issue once the error it records (what the console shows) contains `text`."""

    async def check() -> Any:
        row = await issuer.service.store.get(issue_id)
        return row if row is not None and text in (row.last_error or "") else None

    return await eventually(check, 20, what=f"issue {issue_id} error {text!r}")


def next_alert(subscription: Any) -> Any:
    return next((e for e in subscription.poll() if e.type == "issue.alert"), None)


def forge_first(monkeypatch: pytest.MonkeyPatch, count: int) -> list[int]:
    """The signing service signs its first `count` requests with a wrong key, then honestly;
    returns the list its requests are counted in."""
    import backend.signer.client as signer_client
    from backend.ndau.keys import Algorithm, generate_keypair, sign

    _public, wrong = generate_keypair(Algorithm.ED25519)
    honest = signer_client.SigningService.sign_request
    asked: list[int] = []

    def forged(self: Any, message: dict[str, Any]) -> list[dict[str, str]]:
        asked.append(1)
        items = honest(self, message)
        if len(asked) > count:
            return items
        signable = base64.b64decode(message["signable_bytes"])
        return [{"key": i["key"], "signature": sign(wrong, signable).to_text()} for i in items]

    monkeypatch.setattr(signer_client.SigningService, "sign_request", forged)
    return asked


async def test_auto_mode_turns_sells_into_one_confirmed_issue(world: World) -> None:
    issuer = await world.issuer()
    events = issuer.bus.subscribe({"issues"})
    world.signer(issuer)
    world.sell("1.25")
    world.sell("2.5")
    world.sell("40", side="buy")
    row = await wait_state(issuer, 1, "confirmed")
    assert row.qty_napu == 375_000_000 and row.trade_count == 2
    chain = world.node.issue_txs()
    assert len(chain) == 1 and chain[0].data["qty"] == 375_000_000
    assert chain[0].tx_hash == row.tx_hash and row.sequence == 4171
    detail = await issuer.service.issue_detail(1)
    assert [t.size for t in detail.trades] == ["1.25", "2.5"]
    assert detail.signed_tx is not None
    assert detail.signed_tx["sequence"] == 4171 and len(detail.signed_tx["signatures"]) == 2
    async with issuer.db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-6:] == [
        "issuer.detected",
        "issuer.approved",
        "issuer.signing",
        "issuer.signed",
        "issuer.submitted",
        "issuer.confirmed",
    ]
    seen = []
    while not events._queue.empty():
        event = await events.get()
        if event.type == "issue.update":
            seen.append(event.data["state"])
    assert seen[-1] == "confirmed" and "signing" in seen
    status = await issuer.service.status()
    assert status.totals.issued == Amount(napu="375000000", ndau="3.75000000")
    now = datetime.now(UTC)
    section = await issuer.service.notary_section(now - timedelta(hours=1), now)
    assert section["issued"] == {"napu": "375000000", "ndau": "3.75000000"}
    assert [(i["id"], i["tx_hash"]) for i in section["issues"]] == [(1, row.tx_hash)]
    earlier = await issuer.service.notary_section(
        now - timedelta(hours=2), now - timedelta(hours=1)
    )
    assert earlier["issued"]["napu"] == "0" and earlier["issues"] == []
    assert status.signer.connected and status.lease.held_by_me
    assert status.node.rfe_sequence in (4170, 4171)


async def test_semi_auto_waits_for_a_decision(world: World) -> None:
    issuer = await world.issuer(issuer_mode="semi_auto")
    world.signer(issuer)
    world.sell("10")
    await wait_state(issuer, 1, "awaiting_approval")
    assert world.node.issue_txs() == []
    decided = await issuer.service.decide(
        1, approve=True, actor="key:abc(ops)", reason="matches the desk log", source="127.0.0.1"
    )
    assert decided.decided_by == "key:abc(ops)"
    assert decided.decision_reason == "matches the desk log"
    await wait_state(issuer, 1, "confirmed")
    with pytest.raises(DecisionConflict, match="not awaiting approval"):
        await issuer.service.decide(1, approve=False, actor="x", reason="late", source=None)

    world.sell("3")
    await wait_state(issuer, 2, "awaiting_approval")
    await issuer.service.decide(2, approve=False, actor="key:abc(ops)", reason="test", source=None)
    await wait_state(issuer, 2, "rejected")
    world.sell("4")
    await wait_state(issuer, 3, "awaiting_approval")  # the rejected trades never come back
    assert len(world.node.issue_txs()) == 1
    detail = await issuer.service.issue_detail(3)
    assert [t.size for t in detail.trades] == ["4"]
    recon = await issuer.service.reconciliation(0, int(time.time() * 1000) + 1, live=True)
    assert recon.recorded_sales.napu == str(17 * NAPU_PER_NDAU)
    assert recon.issued.napu == str(10 * NAPU_PER_NDAU)
    assert recon.rejected.napu == str(3 * NAPU_PER_NDAU)
    assert recon.pending.napu == str(4 * NAPU_PER_NDAU)
    assert recon.unrecorded is not None and recon.unrecorded.napu == "0"


async def test_a_sale_listed_late_is_issued_once_and_history_before_the_start_never(
    world: World,
) -> None:
    issuer = await world.issuer(issuer_mode="semi_auto")
    cursor = await issuer.service.store.cursor()
    assert cursor is not None
    started = cursor.started_from_ms
    world.bitmart.add_trade(side="sell", size="100", at_ms=started - 1_000)  # before the start

    async def cursor_past(ms: int) -> bool:
        row = await issuer.service.store.cursor()
        return row is not None and row.cursor_ms > ms

    now = int(time.time() * 1000)
    await eventually(lambda: cursor_past(now + 500))
    # Bitmart lists a sale only now whose time is already behind the issuer's cursor.
    world.bitmart.add_trade(side="sell", size="7", at_ms=now - 200)
    row = await wait_state(issuer, 1, "awaiting_approval")
    assert row.qty_napu == 7 * NAPU_PER_NDAU and row.trade_count == 1
    polls = issuer.service.engine.polls
    await eventually(lambda: issuer.service.engine.polls >= polls + 5)
    assert await states(issuer) == [(1, "awaiting_approval")]  # re-read, never counted twice


async def test_overdue_approval_raises_one_alert(world: World) -> None:
    issuer = await world.issuer(issuer_mode="semi_auto", issuer_approval_alert_s=0.3)
    alerts = issuer.bus.subscribe({"issues"})
    world.sell("1")
    await wait_state(issuer, 1, "awaiting_approval")
    event = await eventually(lambda: next_alert(alerts), 20)
    assert event.data["kind"] == "approval_overdue" and event.data["issue"]["id"] == 1
    alert = parse_payload(event.type, event.data)  # the contract's IssueAlert, for any client
    assert isinstance(alert, IssueAlert) and alert.issue.state == "awaiting_approval"
    assert (await issuer.service.status()).overdue_approvals == 1


async def test_signer_offline_then_back(world: World) -> None:
    issuer = await world.issuer()
    world.sell("2")
    await wait_state(issuer, 1, "signing")

    async def errored() -> Any:
        current = await issuer.service.store.get(1)
        return current if current and current.last_error else None

    row = await eventually(errored, 20)
    assert "no signing service" in row.last_error
    status = await issuer.service.status()
    assert not status.signer.connected
    assert issuer.health.get("issuer-signer").status == "down"
    world.signer(issuer)
    row = await wait_state(issuer, 1, "confirmed")
    assert row.sequence == 4171 and row.resequenced == 0
    assert issuer.health.get("issuer-signer").status == "ok"


async def test_a_consumed_sequence_is_replaced_only_when_the_tx_cannot_land(world: World) -> None:
    issuer = await world.issuer()
    world.sell("6")
    row = await wait_state(issuer, 1, "signing")
    assert row.sequence == 4171
    world.node.bump_sequence()  # another tx from the RFE account took 4171
    world.signer(issuer)
    row = await wait_state(issuer, 1, "confirmed")
    assert row.sequence == 4172 and row.resequenced == 1
    chain = world.node.issue_txs()
    assert [(tx.data["qty"], tx.data["sequence"]) for tx in chain] == [(600_000_000, 4172)]


async def test_a_node_behind_the_chain_never_confirms_a_sale_by_another_issues_tx(
    world: World,
) -> None:
    """An Issue is only qty and sequence: a second sale of the same size signed with a stale
    sequence would be the very tx the first sale landed, and "found on the chain" would
    confirm a sale that was never issued."""
    issuer = await world.issuer()
    world.signer(issuer)
    world.sell("8")
    first = await wait_state(issuer, 1, "confirmed")
    world.node.account_lag = 1  # the node answering account lookups has not seen 4171 yet
    world.sell("8")
    row = await wait_error(issuer, 2, "behind")
    assert row.state == "approved" and row.sequence is None
    assert "issue 1" in row.last_error and "4171" in row.last_error
    world.node.account_lag = 0
    second = await wait_state(issuer, 2, "confirmed")
    chain = world.node.issue_txs()
    assert [(tx.data["qty"], tx.data["sequence"]) for tx in chain] == [
        (800_000_000, 4171),
        (800_000_000, 4172),
    ]
    assert (first.tx_hash, second.tx_hash) == (chain[0].tx_hash, chain[1].tx_hash)


async def test_an_issue_holding_another_issues_landed_tx_is_signed_anew(world: World) -> None:
    """A row signed before the guard above (same qty, the landed sequence) is not confirmed by
    the other issue's tx: that tx can never land twice, so the issue takes a new sequence."""
    issuer = await world.issuer()
    signer = world.signer(issuer)
    world.sell("8")
    first = await wait_state(issuer, 1, "confirmed")
    await signer.stop()
    world.sell("8")
    await wait_error(issuer, 2, "no signing service")  # waits in signing, holding 4172
    async with issuer.service.store.db.session() as session:
        await session.execute(
            update(IssueRow)
            .where(IssueRow.id == 2)
            .values(sequence=first.sequence, tx_hash=first.tx_hash)
        )
    world.signer(issuer)
    second = await wait_state(issuer, 2, "confirmed")
    assert second.resequenced == 1 and second.sequence == 4172
    assert [tx.data["sequence"] for tx in world.node.issue_txs()] == [4171, 4172]


async def test_lost_submit_reply_is_confirmed_not_resubmitted_twice(world: World) -> None:
    issuer = await world.issuer()
    world.signer(issuer)
    world.node.lose_next_submit_reply = 1  # committed, but the client sees a 503
    world.sell("8")
    row = await wait_state(issuer, 1, "confirmed")
    assert len(world.node.issue_txs()) == 1 and row.sequence == 4171
    assert world.node.submits >= 2  # the retry got 202 "already committed"


async def test_fractional_napu_refuses_the_batch_and_keeps_the_cursor(world: World) -> None:
    issuer = await world.issuer()
    world.signer(issuer)
    world.sell("1.000000001")
    cursor_before = (await issuer.service.store.cursor()).cursor_ms

    async def poll_error() -> Any:
        return issuer.service.engine.last_poll_error

    error = await eventually(poll_error, 20)
    assert "not a whole number of napu" in error
    assert (await issuer.service.store.cursor()).cursor_ms == cursor_before
    assert await states(issuer) == [] and world.node.issue_txs() == []


async def test_not_enough_released_ndau_waits_without_signing(world: World) -> None:
    world.node.total_released = world.node.total_issued + NAPU_PER_NDAU
    issuer = await world.issuer()
    world.signer(issuer)
    world.sell("5")

    async def blocked() -> Any:
        row = await issuer.service.store.get(1)
        return row if row and row.last_error and "RFE'd" in row.last_error else None

    row = await eventually(blocked, 20)
    assert row.state == "approved" and row.sequence is None
    world.node.total_released += 10 * NAPU_PER_NDAU
    await wait_state(issuer, 1, "confirmed")


async def test_bad_signatures_fail_the_issue_until_an_operator_retries(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge_first(monkeypatch, 2)
    issuer = await world.issuer()
    engine = issuer.service.engine
    engine.config = dataclasses.replace(engine.config, max_refusals=2)
    world.signer(issuer)
    world.sell("9")
    row = await wait_state(issuer, 1, "failed")
    assert "does not verify" in row.last_error and row.sequence == 4171
    assert world.node.issue_txs() == []
    world.sell("1")  # a later batch must wait: issue 1 still holds its sequence
    await wait_state(issuer, 2, "approved")
    retried = await issuer.service.retry(1, actor="key:ops", reason="signer fixed", source=None)
    assert retried.state == "signing"
    await wait_state(issuer, 1, "confirmed")
    await wait_state(issuer, 2, "confirmed")
    assert [tx.data["sequence"] for tx in world.node.issue_txs()] == [4171, 4172]


async def test_only_the_lease_holder_issues_and_a_lost_lease_stops_it(world: World) -> None:
    first = await world.issuer()
    world.signer(first)
    world.sell("1")
    await wait_state(first, 1, "confirmed")
    second = await world.issuer()  # same database, second issuer
    world.signer(second)
    await eventually(lambda: second.service.engine.blocked, 20)
    assert "another issuer holds the lease" in second.service.engine.blocked
    # Someone else takes the lease from the first issuer (e.g. it stalled past expiry).
    async with first.db.session() as session:
        await session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == "issuer")
            .values(holder="elsewhere:1:z", token=LeaseRow.token + 1)
        )
    world.sell("2")
    await eventually(lambda: not first.service.lease.held, 30)
    assert len(world.node.issue_txs()) == 1  # nobody issued under a lost lease
    async with first.db.session() as session:  # the thief goes away: the lease expires
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(LeaseRow).where(LeaseRow.name == "issuer").values(expires_at=past)
        )
    row = await wait_state(second, 2, "confirmed", within_s=15)
    assert row.lease_token is not None and row.lease_token >= 3
    assert len(world.node.issue_txs()) == 2


# ---------------------------------------------------------------- bad input from the outside


def shown_errors(subscription: Any) -> list[str]:
    """The errors the console was shown on issue updates so far."""
    updates = [e for e in subscription.poll() if e.type == "issue.update"]
    return [e.data["last_error"] for e in updates if e.data["last_error"]]


def one_issue_on_chain(world: World, row: Any) -> None:
    """The sale was issued exactly once, by the issue's own tx, at the height it recorded."""
    chain = world.node.issue_txs()
    assert [(tx.tx_hash, tx.height) for tx in chain] == [(row.tx_hash, row.block_height)]
    assert (chain[0].data["qty"], chain[0].data["sequence"]) == (row.qty_napu, row.sequence)


@pytest.mark.parametrize("fault", ["empty", "no_height"])
async def test_a_malformed_detail_reply_never_issues_a_sale_twice(
    world: World, fault: DetailFault
) -> None:
    issuer = await world.issuer()
    events = issuer.bus.subscribe({"issues"})
    world.signer(issuer)
    world.node.lose_next_submit_reply = 1  # committed, but the client sees a 503
    world.node.unindexed_lookups = 1  # so the resubmission is refused "sequence too low"
    world.node.garble_next_detail = [fault]  # and the lookup that follows answers garbage
    world.sell("8")
    row = await wait_state(issuer, 1, "confirmed")
    one_issue_on_chain(world, row)
    assert row.sequence == 4171 and row.resequenced == 0
    said = {"empty": "empty body", "no_height": "has no BlockHeight"}[fault]
    assert any(said in error for error in shown_errors(events))


async def test_a_tx_the_node_has_not_indexed_yet_is_not_signed_again(world: World) -> None:
    issuer = await world.issuer()
    events = issuer.bus.subscribe({"issues"})
    world.signer(issuer)
    world.node.lose_next_submit_reply = 1
    # The index lags: the resubmission is refused, the detail says null, the next resubmission
    # is refused again; only then does the node find the tx.
    world.node.unindexed_lookups = 3
    world.sell("8")
    row = await wait_state(issuer, 1, "confirmed")
    one_issue_on_chain(world, row)
    assert row.sequence == 4171 and row.resequenced == 0
    assert any("looking again" in error for error in shown_errors(events))
    assert world.node.unindexed_lookups == 0


async def test_a_foreign_detail_never_confirms_an_issue_that_was_not_sent(world: World) -> None:
    issuer = await world.issuer()
    world.sell("8")
    await wait_error(issuer, 1, "no signing service")  # it waits in signing, holding 4171
    world.node.garble_next_detail = ["foreign", "foreign"]  # resuming, it looks for its tx
    row = await wait_error(issuer, 1, "not our Issue")
    assert row.state == "signing" and world.node.issue_txs() == []
    world.signer(issuer)
    row = await wait_state(issuer, 1, "confirmed")
    one_issue_on_chain(world, row)


async def test_an_empty_submit_reply_and_a_foreign_detail_never_confirm(world: World) -> None:
    issuer = await world.issuer()
    events = issuer.bus.subscribe({"issues"})
    world.signer(issuer)
    world.node.empty_next_submit_reply = 1  # nothing committed; a 200 with no body
    world.node.garble_next_detail = ["foreign"]
    world.sell("8")
    row = await wait_state(issuer, 1, "confirmed")
    one_issue_on_chain(world, row)
    errors = shown_errors(events)
    assert any("(an empty body) to /tx/submit/issue" in error for error in errors)
    assert any("not our Issue" in error for error in errors)


async def test_a_repeated_signature_is_a_refusal_that_fails_the_issue(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backend.signer.client as signer_client

    honest = signer_client.SigningService.sign_request
    asked: list[int] = []

    def doubled(self: Any, message: dict[str, Any]) -> list[dict[str, str]]:
        asked.append(1)
        items = honest(self, message)
        return [*items, items[0]]

    monkeypatch.setattr(signer_client.SigningService, "sign_request", doubled)
    issuer = await world.issuer()
    engine = issuer.service.engine
    engine.config = dataclasses.replace(engine.config, max_refusals=2)
    world.signer(issuer)
    world.sell("9")
    row = await wait_state(issuer, 1, "failed")
    assert "already on the transaction" in row.last_error
    assert len(asked) == 2 and world.node.issue_txs() == []


@pytest.mark.parametrize("sequence", [-2, INT64_MAX])
async def test_an_account_sequence_no_issue_can_follow_is_a_recorded_error(
    world: World, sequence: int
) -> None:
    world.node.rfe.sequence = sequence
    issuer = await world.issuer()
    world.signer(issuer)
    world.sell("5")
    row = await wait_error(issuer, 1, "cannot build the Issue tx: sequence must be")
    assert row.state == "approved" and row.sequence is None
    world.node.rfe.sequence = 4170
    row = await wait_state(issuer, 1, "confirmed")
    assert row.sequence == 4171
    one_issue_on_chain(world, row)


async def test_a_garbled_trade_id_stops_the_poll_but_not_the_alerts(world: World) -> None:
    issuer = await world.issuer(issuer_mode="semi_auto", issuer_approval_alert_s=1.0)
    alerts = issuer.bus.subscribe({"issues"})
    world.sell("1")
    await wait_state(issuer, 1, "awaiting_approval")
    bad = world.bitmart.add_trade(side="sell", size="2", trade_id="1²")
    world.sell("3")
    error = await eventually(lambda: issuer.service.engine.last_poll_error, 20)
    assert "bad tradeId '1²'" in error
    event = await eventually(lambda: next_alert(alerts), 20)
    assert event.data["kind"] == "approval_overdue" and event.data["issue"]["id"] == 1
    assert await states(issuer) == [(1, "awaiting_approval")]
    world.bitmart.trades.remove(bad)  # Bitmart lists it properly: nothing was skipped
    row = await wait_state(issuer, 2, "awaiting_approval")
    assert row.qty_napu == 3 * NAPU_PER_NDAU and row.trade_count == 1


async def test_signer_outages_do_not_count_as_refusals(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge_first(monkeypatch, 1)
    issuer = await world.issuer()
    engine = issuer.service.engine
    engine.config = dataclasses.replace(engine.config, max_refusals=2)
    world.sell("4")

    async def offline_twice() -> Any:
        row = await issuer.service.store.get(1)
        return row is not None and row.attempts >= 2

    await eventually(offline_twice, 20)  # two failures: no signing service connected
    world.signer(issuer)  # its first answer is refused, its second is good
    row = await wait_state(issuer, 1, "confirmed")
    one_issue_on_chain(world, row)


async def test_an_operator_retry_gives_the_issue_its_refusals_anew(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = forge_first(monkeypatch, 3)
    issuer = await world.issuer()
    engine = issuer.service.engine
    engine.config = dataclasses.replace(engine.config, max_refusals=2)
    world.signer(issuer)
    world.sell("4")
    await wait_state(issuer, 1, "failed")
    assert len(asked) == 2
    await issuer.service.retry(1, actor="key:ops", reason="signer fixed", source=None)
    row = await wait_state(issuer, 1, "confirmed")  # one more refusal, then a good signature
    assert len(asked) == 4
    one_issue_on_chain(world, row)
