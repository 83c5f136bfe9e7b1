"""Commands against the simulator: results per miner through each firmware's driver, refusals,
approvals, verification and the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from backend.auth.service import KeyInfo
from backend.core.audit import AuditEntry
from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.commands import CommandError, FleetCommands, _set_verification, validate
from backend.fleet.drivers import ControlContext
from backend.fleet.poller import Poller
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from tests.fleet.fleet_helpers import make_poller, specs_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def key(key_id: str, mode: str = "auto") -> KeyInfo:
    return KeyInfo(
        1, key_id, key_id, "operator", None, ("fleet:control",), "operator", mode, NOW, None, None
    )


@pytest.fixture
async def setup(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[FleetSimulator, Poller, FleetCommands, Database]]:
    db = database
    # m0 antminer, m1 whatsminer, m2 braiins, m3 cgminer, m4 antminer with a read-only RPC
    # (stock Antminers are controlled through their web CGI, so that does not matter)
    families = ["antminer", "whatsminer", "braiins", "cgminer", "antminer"]
    async with FleetSimulator(
        5,
        use_ports=True,
        families=families,
        read_only=[4],
        restart_downtime_s=30,
        web_port=0,
        braiins_grpc_port=0,
    ) as sim:
        poller = make_poller(settings, db, EventBus(), ManualClock(), specs_for(sim))
        await poller.sweep()
        context = ControlContext(verify_timeout_s=3.0, verify_interval_s=0.1)
        yield sim, poller, FleetCommands(db, poller, ManualClock(), 4, context=context), db


def test_validation_says_what_is_wrong() -> None:
    assert validate("switchpool", {"pool": "1"}) == {"pool": 1}
    with pytest.raises(CommandError, match=r"params\.pool"):
        validate("switchpool", {})
    with pytest.raises(CommandError, match="unknown command"):
        validate("selfdestruct", {})
    with pytest.raises(CommandError, match=r"params\.url"):
        validate("addpool", {"url": "not a url", "user": "w"})


async def test_bulk_gives_one_result_per_miner_in_order(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    sim, poller, commands, _db = setup
    results = await commands.request(
        ["m0", "m1", "m2", "m3", "m4"], "switchpool", {"pool": 1}, key=key("k1")
    )
    assert [r.miner_id for r in results] == ["m0", "m1", "m2", "m3", "m4"]
    states = [r.state for r in results]
    assert states == ["succeeded"] * 5
    assert "switching to pool" in results[0].result
    assert results[0].verified is True and "active pool" in results[0].verification
    assert results[1].verified is True  # Whatsminer: through its encrypted API, read back
    assert results[2].verified is True  # Braiins OS: through its gRPC API, read back
    assert sim.miners[2].bos is not None and list(sim.miners[2].bos.calls) == ["UpdatePoolGroup"]
    assert not any("switchpool" in r for r in sim.miners[2].requests)
    assert sim.miners[0].active_pool().url == "stratum+tcp://btc-backup.sim-pool.example:443"
    await poller.sweep()
    active = [p for p in poller.miner_data(poller.states["m0"])["pools"] if p["active"]]
    assert active[0]["url"] == sim.miners[0].active_pool().url


async def test_a_switch_named_by_its_pool_is_the_same_switch_when_repeated(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    """Stock Antminer and Whatsminer reorder their pools on a switch: the same index asked
    twice (a retry, a stale list) switched back. Named by URL and user it stays put, and a
    pool the miner no longer has is refused rather than replaced by whatever is there now."""
    sim, _poller, commands, _db = setup
    for index in (0, 1, 2, 3):  # stock Antminer (web CGI), Whatsminer, Braiins gRPC, cgminer
        miner = sim.miners[index]
        backup = miner.pools[1]
        params = {"pool": 1, "url": backup.url, "user": backup.user}
        for _attempt in range(2):
            [done] = await commands.request([f"m{index}"], "switchpool", params, key=key("k1"))
            assert done.state == "succeeded" and done.verified is True, done
            assert miner.active_pool().url == backup.url
    gone = {"pool": 1, "url": "stratum+tcp://gone.example:3333", "user": "nobody"}
    [refused] = await commands.request(["m0"], "switchpool", gone, key=key("k1"))
    assert refused.state == "refused" and "gone.example" in str(refused.result)
    assert sim.miners[0].active_pool().url == sim.miners[0].pools[0].url
    with pytest.raises(CommandError, match=r"needs params\.url"):
        validate("switchpool", {"pool": 1, "user": "w"})


async def test_restart_unsupported_and_unreachable(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    _sim, _poller, commands, _db = setup
    [restart] = await commands.request(["m3"], "restart", {}, key=key("k1"))
    assert restart.state == "succeeded" and restart.verified is False  # dark for 30s: not back
    assert restart.verification == (
        "sent, not verified: the miner went dark and was not seen back within 3s"
    )
    [light] = await commands.request(["m0"], "enablepool", {"pool": 1}, key=key("k1"))
    assert light.state == "refused" and "no per-pool enable switch" in light.result
    [again] = await commands.request(["m3"], "wake", {}, key=key("k1"))  # still restarting
    assert again.state == "failed" and again.result.startswith("miner unreachable")
    with pytest.raises(CommandError) as info:
        await commands.request(["nope"], "restart", {}, key=key("k1"))
    assert info.value.status == 404


async def test_a_hung_antminer_is_not_rebooted_verified_nor_held_as_rebooting(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    sim, poller, _commands, db = setup
    miner = sim.miners[0]
    assert miner.web is not None
    miner.web.fault = "hang"  # lighttpd accepts and never answers
    await miner.set_fault(Fault.HANG)  # and so does the RPC
    context = ControlContext(web_timeout_s=1.0, verify_timeout_s=1.0, verify_interval_s=0.1)
    commands = FleetCommands(db, poller, ManualClock(), 4, context=context)
    [restart] = await commands.request(["m0"], "restart", {}, key=key("k1"))
    assert restart.state == "failed" and restart.verified is None
    assert restart.result == (
        f"reboot sent, not confirmed: no reply from {miner.host}:{miner.web_port} within 1s "
        "(the miner may be hung)"
    )
    assert "m0" not in poller.rebooting  # its offline alerts are not held
    assert not miner.restarting


async def test_semi_auto_waits_for_another_key_and_everything_is_audited(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    sim, _poller, commands, db = setup
    [pending] = await commands.request(["m0"], "sleep", {}, key=key("semi", "semi_auto"))
    assert pending.state == "pending_approval" and not sim.miners[0].sleeping
    with pytest.raises(CommandError) as info:
        await commands.approve(pending.command_id, key=key("semi"), reason="me")
    assert info.value.status == 403
    done = await commands.approve(pending.command_id, key=key("boss"), reason="night tariff")
    assert done.state == "succeeded" and sim.miners[0].sleeping
    assert done.decided_by == key("boss").actor
    with pytest.raises(CommandError) as info:
        await commands.approve(pending.command_id, key=key("boss"), reason="twice")
    assert info.value.status == 409
    [other] = await commands.request(["m3"], "restart", {}, key=key("semi", "semi_auto"))
    rejected = await commands.reject(other.command_id, key=key("boss"), reason="not now")
    assert rejected.state == "refused" and "not now" in rejected.result
    queue, total = await commands.list("pending_approval", 10, 0)
    assert queue == [] and total == 0
    async with db.session() as session:
        actions = [a.action for a in (await session.scalars(select(AuditEntry))).all()]
    assert actions.count("fleet.command.request") == 2
    assert "fleet.command.approve" in actions and "fleet.command.reject" in actions
    assert actions.count("fleet.command.result") == 1


async def test_consoles_deciding_at_once_send_a_command_once(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    """Three consoles approve the same addpool, and another rejects it, all at once: one
    decision wins, the others get 409, and the miner gets the pool once."""
    sim, _poller, commands, db = setup
    params = {"url": "stratum+tcp://new.example:3333", "user": "acme.w1", "password": "x"}
    [pending] = await commands.request(["m3"], "addpool", params, key=key("semi", "semi_auto"))
    decisions = [
        *(
            commands.approve(pending.command_id, key=key(f"boss{i}"), reason=f"console {i}")
            for i in range(3)
        ),
        commands.reject(pending.command_id, key=key("boss3"), reason="console 3"),
    ]
    answers = await asyncio.gather(*decisions, return_exceptions=True)
    won = [a for a in answers if not isinstance(a, BaseException)]
    lost = [a for a in answers if isinstance(a, BaseException)]
    assert len(won) == 1, answers
    assert all(isinstance(a, CommandError) and a.status == 409 for a in lost), lost
    sent = [r for r in sim.miners[3].requests if "addpool" in str(r)]
    added = [p for p in sim.miners[3].pools if p.url == params["url"]]
    if won[0].decided_by == key("boss3").actor:
        assert won[0].state == "refused" and not sent and not added
    else:
        assert won[0].state == "succeeded" and len(sent) == 1 and len(added) == 1
    [stored], _total = await commands.list(None, 1, 0)
    assert (stored.state, stored.decided_by) == (won[0].state, won[0].decided_by)
    async with db.session() as session:
        actions = [a.action for a in (await session.scalars(select(AuditEntry))).all()]
    assert actions.count("fleet.command.approve") + actions.count("fleet.command.reject") == 1


async def test_addpool_password_is_masked_in_the_log(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    sim, _poller, commands, _db = setup
    params = {"url": "stratum+tcp://new.example:3333", "user": "acme.w1", "password": "s3cret"}
    [result] = await commands.request(["m3"], "addpool", params, key=key("k1"))
    assert result.state == "succeeded" and result.params["password"] == "********"
    assert sim.miners[3].pools[-1].url == params["url"]
    items, _ = await commands.list(None, 10, 0)
    assert "s3cret" not in str(items)


async def test_a_verified_command_is_not_downgraded_by_the_later_writer(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    """The read-back and the poller both write a restart's verification, from different
    tasks: whichever comes second leaves a "verified" in place unless it is verified too."""
    _sim, _poller, commands, db = setup
    [row] = await commands.request(["m3"], "restart", {}, key=key("semi", "semi_auto"))
    now = datetime.now(UTC)
    async with db.session() as session:
        assert await _set_verification(session, row.command_id, "verified: back", now)
        assert not await _set_verification(session, row.command_id, "sent, not verified", now)
    [stored], _total = await commands.list(None, 1, 0)
    assert stored.verification == "verified: back" and stored.verified is True
    async with db.session() as session:  # a verified read-back may replace it
        assert await _set_verification(
            session, row.command_id, "verified: uptime reset", now, over_verified=True
        )
    [stored], _total = await commands.list(None, 1, 0)
    assert stored.verification == "verified: uptime reset"


ADDPOOL = {"url": "stratum+tcp://once.example:3333", "user": "acme.w1", "password": "x"}


async def test_a_request_sent_again_with_its_idempotency_key_runs_once(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    """The answer to an addpool was lost and the client sends it again, twice at once even:
    the miner gets the pool once, and every answer is the first request's command."""
    sim, _poller, commands, _db = setup
    asks = [
        commands.request_once(["m3"], "addpool", ADDPOOL, key=key("k1"), idempotency_key="a1")
        for _ in range(3)
    ]
    answers = await asyncio.gather(*asks)
    assert sorted(replayed for _results, replayed in answers) == [False, True, True]
    assert len({results[0].command_id for results, _replayed in answers}) == 1
    added = [p for p in sim.miners[3].pools if p.url == ADDPOOL["url"]]
    assert len(added) == 1
    again, replayed = await commands.request_once(
        ["m3"], "addpool", ADDPOOL, key=key("k1"), idempotency_key="a1"
    )
    assert replayed and again[0].state == "succeeded" and again[0].verified is True
    _items, total = await commands.list(None, 10, 0)
    assert total == 1


async def test_an_idempotency_key_belongs_to_one_request_of_one_api_key(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    _sim, _poller, commands, _db = setup
    [first], _ = await commands.request_once(
        ["m3", "m0"][:1], "restart", {}, key=key("k1"), idempotency_key="same"
    )
    with pytest.raises(CommandError, match="another request") as refused:
        await commands.request_once(["m3"], "wake", {}, key=key("k1"), idempotency_key="same")
    assert refused.value.status == 422
    [other], replayed = await commands.request_once(
        ["m3"], "restart", {}, key=key("k2"), idempotency_key="same"
    )
    assert not replayed and other.command_id != first.command_id


async def test_an_idempotency_key_is_kept_a_day(
    setup: tuple[FleetSimulator, Poller, FleetCommands, Database],
) -> None:
    _sim, _poller, commands, _db = setup
    clock = ManualClock(1_000_000.0)
    commands.clock = clock
    [first], _ = await commands.request_once(
        ["m3"], "wake", {}, key=key("k1"), idempotency_key="day"
    )
    clock.advance(23 * 3600)
    [same], replayed = await commands.request_once(
        ["m3"], "wake", {}, key=key("k1"), idempotency_key="day"
    )
    assert replayed and same.command_id == first.command_id
    clock.advance(2 * 3600)
    [fresh], replayed = await commands.request_once(
        ["m3"], "wake", {}, key=key("k1"), idempotency_key="day"
    )
    assert not replayed and fresh.command_id != first.command_id
