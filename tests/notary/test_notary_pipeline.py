"""The notarization pipeline end to end: sign, pin, anchor, verify; crashes; tampering."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from backend.notary.anchor import AnchorChain, embedded_chain
from backend.notary.canonical import canonical_json
from backend.notary.cid import cid_v0
from backend.notary.keccak import hash_from_hex, keccak_hex
from backend.notary.models import NotarizationRow
from backend.notary.pipeline import STEPS
from backend.notary.signing import recover_signer
from backend.notary.verify import verify_notarization
from backend.sim.pinata import PinataSimulator, js_stringify
from tests.notary.conftest import OTHER_KEY, Crash, Parts, crash_after, make_key, notarize


async def verify(parts: Parts, notarization_id: int, **kw: Any) -> Any:
    row = await parts.pipeline().get_row(notarization_id)
    assert row is not None
    return await verify_notarization(
        row,
        store=kw.get("store", parts.store),
        pinata=kw.get("pinata"),
        chain=kw.get("chain", parts.chain),
        confirmations=2,
    )


async def set_fields(parts: Parts, notarization_id: int, **fields: Any) -> None:
    async with parts.db.session() as session:
        await session.execute(
            update(NotarizationRow).where(NotarizationRow.id == notarization_id).values(**fields)
        )


async def anchors_sent(parts: Parts) -> int:
    chain = parts.chain
    await chain.info()
    return int(chain.w3.eth.get_transaction_count(parts.key.address))


async def test_round_trip_signs_pins_anchors_and_verifies(parts: Parts) -> None:
    view = await notarize(parts.pipeline())
    assert view.status == "completed", view
    assert [s.state for s in view.steps] == ["done"] * len(STEPS)
    row = await parts.pipeline().get_row(view.id)
    assert row is not None and row.document is not None
    # Anyone can recompute: the pinned bytes are the canonical document, its keccak the hash.
    pinned = await parts.store.cat(view.cid)
    assert pinned == row.document.encode()
    assert view.cid == cid_v0(pinned) and view.pin_provider == "local"
    assert canonical_json(json.loads(pinned)) == pinned
    assert keccak_hex(pinned) == view.hash
    assert recover_signer(hash_from_hex(view.hash), view.signature) == parts.key.address
    tx = await parts.chain.transaction(view.tx_hash)
    assert tx is not None and tx.data == hash_from_hex(view.hash)
    assert tx.sender == parts.key.address and tx.receipt is not None
    assert tx.receipt.block_number == view.block_number
    result = await verify(parts, view.id)
    assert result.ok and result.failed_step is None
    assert [c.step for c in result.checks] == ["pin", "hash", "sign", "anchor", "confirm"]
    assert all(c.ok for c in result.checks)


async def test_report_takes_sections_from_services_and_never_invents_them(parts: Parts) -> None:
    class Fleet:
        name = "fleet"

        async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
            return {"miners": 3, "hashrate_ths": 301.5, "since": start}

    class Broken:
        name = "market"

        async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
            raise RuntimeError("provider down")

    parts.services.update(fleet=Fleet(), market=Broken(), other=object())
    view = await notarize(parts.pipeline())
    row = await parts.pipeline().get_row(view.id)
    assert row is not None and row.document is not None
    sections = json.loads(row.document)["sections"]
    assert sections["fleet"] == {
        "available": True,
        "data": {"miners": 3, "hashrate_ths": 301.5, "since": sections["fleet"]["data"]["since"]},
    }
    assert sections["fleet"]["data"]["since"].endswith("Z")
    assert sections["market"] == {"available": False, "reason": "market failed: RuntimeError"}
    assert (
        sections["chain"]["available"] is False
        and "no running service" in sections["chain"]["reason"]
    )
    assert "other" not in sections


async def test_report_carries_the_audit_trail_of_its_period(parts: Parts) -> None:
    from backend.core.audit import record_audit

    async with parts.db.session() as session:
        record_audit(session, actor="op", action="key.revoke", target="k1", source="203.0.113.77")
    view = await notarize(parts.pipeline())
    row = await parts.pipeline().get_row(view.id)
    assert row is not None and row.document is not None
    audit = json.loads(row.document)["audit"]
    # the notarization's own request row is written after its period ends
    assert audit["by_action"] == {"key.revoke": 1}
    assert audit["entries"][0]["target"] == "k1"
    assert audit["entries_keccak256"] == keccak_hex(canonical_json(audit["entries"]))
    # any `read` key may fetch a report and it may be pinned publicly: no client addresses
    assert "source" not in audit["entries"][0] and "203.0.113.77" not in row.document


@pytest.mark.parametrize("step", STEPS[:-1])
async def test_a_crash_after_any_step_resumes_where_it_stopped(parts: Parts, step: str) -> None:
    first = parts.pipeline(after_step=crash_after(step))
    with pytest.raises(Crash):
        await notarize(first)
    notarization_id = 1
    row = await first.get_row(notarization_id)
    assert row is not None and row.status == "running"
    states = {name: s["state"] for name, s in json.loads(row.steps).items()}
    done = STEPS[: STEPS.index(step) + 1]
    assert all(states[name] == "done" for name in done)
    assert all(states[name] == "pending" for name in STEPS if name not in done)
    assert await parts.pipeline().unfinished() == [notarization_id]
    resumed = await parts.pipeline().run(notarization_id)
    assert resumed is not None and resumed.status == "completed", resumed
    assert row.document is not None  # built before the crash, and not rebuilt after it
    assert resumed.hash == keccak_hex(row.document.encode())
    assert await anchors_sent(parts) == 1  # never a second anchor transaction
    assert (await verify(parts, notarization_id)).ok


class FlakyChain:
    """Delegates to a real chain, but the process 'dies' once at a chosen call."""

    def __init__(self, chain: AnchorChain, dies_in: str) -> None:
        self._chain = chain
        self._dies_in = dies_in

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._chain, name)
        if name != self._dies_in:
            return attribute

        async def dying(*args: Any, **kwargs: Any) -> Any:
            if name == "wait_receipt":  # the transaction went out before the crash
                await attribute(*args, **kwargs)
            self._dies_in = ""
            raise Crash(f"died in {name}")

        return dying


@pytest.mark.parametrize("dies_in", ["broadcast", "wait_receipt"])
async def test_a_crash_around_sending_the_anchor_sends_exactly_one(
    parts: Parts, dies_in: str
) -> None:
    flaky = FlakyChain(parts.chain, dies_in)
    first = parts.pipeline(chain=flaky)
    with pytest.raises(Crash):
        await notarize(first)
    row = await first.get_row(1)
    assert row is not None and row.tx_hash and row.anchor_raw_tx  # recorded before sending
    recorded = row.tx_hash
    resumed = await parts.pipeline().run(1)
    assert resumed is not None and resumed.status == "completed", resumed
    assert resumed.tx_hash == recorded
    assert await anchors_sent(parts) == 1
    assert (await verify(parts, 1)).ok


async def test_an_embedded_chain_restart_before_sending_anchors_on_the_new_chain(
    parts: Parts,
) -> None:
    first = parts.pipeline(chain=FlakyChain(parts.chain, "broadcast"))
    with pytest.raises(Crash):
        await notarize(first)
    fresh = embedded_chain(parts.health, 15.0)
    try:
        resumed = await parts.pipeline(chain=fresh).run(1)
        assert resumed is not None and resumed.status == "completed", resumed
        assert (await verify(parts, 1, chain=fresh)).ok
        # on the old (still running) chain the anchor was never sent: verification says so
        old = await verify(parts, 1)
        assert not old.ok and old.failed_step == "anchor"
        assert "restarted" in old.checks[3].detail
    finally:
        await fresh.close()


async def test_tampered_content_fails_at_the_pin_step(parts: Parts) -> None:
    view = await notarize(parts.pipeline())
    block = parts.store.block_path(view.cid)
    block.write_bytes(block.read_bytes().replace(b'"trigger":"manual"', b'"trigger":"forged"'))
    result = await verify(parts, view.id)
    assert not result.ok and result.failed_step == "pin"
    assert "does not match" in result.checks[0].detail
    assert result.checks[1].ok is None  # nothing to hash
    assert result.checks[2].ok and result.checks[3].ok  # signature and anchor still hold


async def test_a_tampered_report_pinned_again_fails_at_the_hash_step(parts: Parts) -> None:
    view = await notarize(parts.pipeline())
    document = json.loads(await parts.store.cat(view.cid))
    document["audit"]["count"] += 1  # rewrite history
    forged_cid = await parts.store.add(canonical_json(document))
    await set_fields(parts, view.id, cid=forged_cid)
    result = await verify(parts, view.id)
    assert not result.ok and result.failed_step == "hash"
    assert result.checks[0].ok  # the forged bytes are honestly at their own CID
    assert "hashes to" in result.checks[1].detail


async def test_a_wrong_signer_fails_at_the_sign_step(parts: Parts) -> None:
    view = await notarize(parts.pipeline())
    forged = make_key(OTHER_KEY).sign_hash(hash_from_hex(view.hash))
    await set_fields(parts, view.id, signature=forged)
    result = await verify(parts, view.id)
    assert not result.ok and result.failed_step == "sign"
    assert make_key(OTHER_KEY).address in result.checks[2].detail
    assert result.checks[0].ok and result.checks[1].ok


async def test_a_wrong_anchor_fails_at_the_anchor_step(parts: Parts) -> None:
    first = await notarize(parts.pipeline())
    second = await notarize(parts.pipeline())
    await set_fields(parts, first.id, tx_hash=second.tx_hash)
    result = await verify(parts, first.id)
    assert not result.ok and result.failed_step == "anchor"
    assert "not the hash" in result.checks[3].detail
    await set_fields(parts, first.id, tx_hash="0x" + "ab" * 32)
    result = await verify(parts, first.id)
    assert result.failed_step == "anchor" and "not found" in result.checks[3].detail


async def test_a_changed_notary_key_fails_the_sign_step_for_good(parts: Parts) -> None:
    first = parts.pipeline(after_step=crash_after("hash"))
    with pytest.raises(Crash):
        await notarize(first)
    view = await parts.pipeline(key=make_key(OTHER_KEY)).run(1)
    assert view is not None and view.status == "failed"
    assert view.steps[2].state == "failed" and "signer" in view.error


async def test_a_changed_notary_key_never_sends_the_anchor_of_an_older_signature(
    parts: Parts,
) -> None:
    """The anchor failed (an unfunded key, say), the operator changed the key and retried:
    an anchor from the new key would mark it completed, yet it could never verify."""
    first = parts.pipeline(after_step=crash_after("pin"))
    with pytest.raises(Crash):
        await notarize(first)
    view = await parts.pipeline(key=make_key(OTHER_KEY)).run(1)
    assert view is not None and view.status == "failed", view
    assert view.steps[4].state == "failed" and "never verify" in (view.error or "")
    assert await anchors_sent(parts) == 0
    await set_fields(parts, 1, status="running", attempts=0)  # what a retry does
    finished = await parts.pipeline().run(1)  # with the signing key back, it completes
    assert finished is not None and finished.status == "completed", finished
    assert (await verify(parts, 1)).ok


async def test_pinata_pins_and_verification_reads_the_gateway(parts: Parts) -> None:
    class Odd:
        name = "fleet"

        async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
            return {"sites": {"10": 1.5, "9": 2.0, "b": 1e-7}}  # JS orders "9" before "10"

    parts.services["fleet"] = Odd()
    sim = PinataSimulator()
    await sim.start()
    try:
        pinata = parts.pinata(sim.url, sim.jwt)
        view = await notarize(parts.pipeline(pinata=pinata))
        assert view.status == "completed" and view.pin_provider == "pinata", view
        row = await parts.pipeline().get_row(view.id)
        assert row is not None and row.document is not None
        stored = sim.pins[view.cid]
        assert stored == js_stringify(json.loads(row.document)).encode()
        assert stored != row.document.encode()  # Pinata's bytes are not our canonical bytes...
        assert view.cid == cid_v0(stored)
        result = await verify(parts, view.id, pinata=pinata)
        assert result.ok, result  # ...yet they canonicalize back to the signed hash
        assert "Pinata gateway" in result.checks[0].detail
        sim.pins[view.cid] = stored.replace(b'"trigger":"manual"', b'"trigger":"forged"')
        tampered = await verify(parts, view.id, pinata=pinata)
        assert tampered.failed_step == "pin"
    finally:
        await sim.stop()


async def test_pinata_outage_is_retried_then_fails_after_max_attempts(parts: Parts) -> None:
    sim = PinataSimulator()
    await sim.start()
    try:
        pipeline = parts.pipeline(pinata=parts.pinata(sim.url, sim.jwt))
        sim.fail_next = 3  # one run's worth of retries (the client retries twice)
        view = await notarize(pipeline)
        assert view.status == "running" and view.steps[3].state == "retrying"
        assert "HTTP 500" in view.error and view.attempts == 1
        view = await pipeline.run(view.id)  # Pinata is back
        assert view is not None and view.status == "completed"
        sim.fail_next = 10_000
        broken = await notarize(pipeline)
        for _ in range(2):
            broken = await pipeline.run(broken.id) or broken
        assert broken.status == "failed" and broken.attempts == 3
        assert broken.steps[3].state == "failed"
    finally:
        await sim.stop()


async def test_a_wrong_pinata_jwt_is_reported_without_the_jwt(parts: Parts) -> None:
    sim = PinataSimulator()
    await sim.start()
    try:
        view = await notarize(parts.pipeline(pinata=parts.pinata(sim.url, "wrong-secret-jwt")))
        assert "HTTP 401" in view.error and "wrong-secret-jwt" not in view.model_dump_json()
    finally:
        await sim.stop()
