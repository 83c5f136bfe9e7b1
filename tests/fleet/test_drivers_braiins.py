"""Braiins OS driver against the simulated BOSer's gRPC API: every action sent and read back,
wrong passwords, the firmware refusing or not offering a method, a hang, a port that speaks
another protocol, and the port taken from the credential."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from cryptography.fernet import Fernet

from backend.core.db import Database
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import DriverRegistry, MinerTarget
from backend.fleet.drivers.bos_api import bos_v1_pb2 as pb
from backend.fleet.drivers.bos_api import bos_v1_pb2_grpc as rpc
from backend.fleet.drivers.braiins import BraiinsDriver
from backend.sim.braiins_grpc import BosState
from backend.sim.fleet import Fault, FleetSimulator
from tests.fleet.fleet_helpers import identified, quick_context

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POOL = {"url": "stratum+tcp://new.example:3333", "user": "w.1", "password": "pool-secret"}


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 Braiins OS with its gRPC API on a free port, m1 plain cgminer
    async with FleetSimulator(
        2,
        use_ports=True,
        families=["braiins", "cgminer"],
        restart_downtime_s=3.0,
        braiins_grpc_port=0,
    ) as fleet:
        yield fleet


async def _target(sim: FleetSimulator) -> MinerTarget:
    target = await identified(sim, 0)
    assert target.grpc_port == sim.miners[0].grpc_port  # as the inventory's grpc_port gives it
    return target


def _bos(sim: FleetSimulator) -> BosState:
    state = sim.miners[0].bos
    assert state is not None
    return state


async def test_every_action_is_sent_over_grpc_and_read_back(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    target = await _target(sim)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert isinstance(driver, BraiinsDriver)
    assert all(c.supported for c in driver.capabilities(target).values())
    backup, worker = miner.pools[1].url, miner.pools[1].user
    steps = [
        ("sleep", {}),
        ("wake", {}),
        ("fault_light", {"on": True}),
        ("work_mode", {"mode": "low_power"}),
        ("switchpool", {"pool": 1}),
        ("disablepool", {"pool": 2}),
        ("enablepool", {"pool": 2}),
        ("removepool", {"pool": 2}),
        ("addpool", POOL),
        ("restart", {}),
    ]
    results: dict[str, tuple[str, str]] = {}
    for action, params in steps:
        outcome = await driver.run(target, action, params)
        assert outcome.state == "succeeded", (action, outcome.result)
        results[action] = (outcome.result, await driver.verify(target, action, params, outcome))
    assert results["sleep"] == ("mining paused", "verified: miner status is MINER_STATUS_PAUSED")
    assert results["wake"] == ("mining resumed", "verified: miner status is MINER_STATUS_NORMAL")
    assert results["fault_light"] == ("locate LED blinking", "verified: the locate LED is blinking")
    assert results["work_mode"] == (
        "work mode low_power: power target 2288 W",  # 75% of the S19j Pro's 3050 W
        "verified: power target is 2288 W",
    )
    assert results["switchpool"] == (
        f"switching to pool {backup}",
        f"verified: pool {backup} (user {worker}) is the active pool",
    )
    assert results["disablepool"][1].endswith("is disabled")
    assert results["enablepool"][1].endswith("is enabled")
    assert results["removepool"][1].endswith("is no longer listed")
    assert results["addpool"][1] == f"verified: pool {POOL['url']} (user w.1) is listed"
    assert results["restart"][1].startswith("verified:")
    assert list(_bos(sim).calls) == [
        "PauseMining",
        "ResumeMining",
        "SetLocateDeviceStatus",
        "SetPowerTarget 2288",
        "UpdatePoolGroup",
        "UpdatePoolGroup",
        "UpdatePoolGroup",
        "UpdatePoolGroup",
        "UpdatePoolGroup",
        "Reboot",
    ]
    # the pools as the miner now holds them: reordered, one removed, ours added with its
    # password, the others' passwords untouched (never re-sent)
    assert [p.url for p in miner.pools] == [
        backup,
        "stratum+tcp://btc.sim-pool.example:3333",
        POOL["url"],
    ]
    assert [p.password for p in miner.pools] == ["x", "x", "pool-secret"]
    assert not any(r.startswith(("ascset", "restart", "switchpool")) for r in miner.requests)
    assert not any(
        token in text for token in _bos(sim).tokens for r in results.values() for text in r
    )


async def test_the_port_comes_from_the_stored_credential(
    sim: FleetSimulator, database: Database
) -> None:
    miner = sim.miners[0]
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    await store.set(
        scope="miner",
        target="m0",
        kind="braiins",
        username="root",
        password=None,
        port=miner.grpc_port,
        actor="t",
        now=NOW,
    )
    target = await identified(sim, 0)
    target.grpc_port = None  # none in the inventory: 50051 unless a credential names a port
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    outcome = await driver.run(target, "fault_light", {"on": True})
    assert outcome.state == "succeeded" and miner.blinking


async def test_wrong_password_is_refused_once_and_remembered(
    sim: FleetSimulator, database: Database
) -> None:
    miner = sim.miners[0]
    _bos(sim).password = "site-secret"
    target = await _target(sim)
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    refused = await driver.run(target, "sleep", {})
    assert refused.state == "refused"
    assert refused.result.startswith(
        "refused: wrong credentials for m0 (braiins, factory default user root"
    )
    assert _bos(sim).login_failures == 1
    again = await driver.run(target, "restart", {})
    assert again.state == "refused" and "wrong credentials" in again.result
    assert _bos(sim).login_failures == 1 and not miner.restarting  # nothing sent again
    await store.set(
        scope="site",
        target="A",
        kind="braiins",
        username="root",
        password="site-secret",
        port=None,
        actor="t",
        now=NOW,
    )
    done = await driver.run(target, "sleep", {})
    assert done.state == "succeeded" and miner.sleeping
    assert "site-secret" not in done.result + refused.result + again.result


async def test_the_firmware_refusing_or_not_offering_a_method(sim: FleetSimulator) -> None:
    target = await _target(sim)
    driver = DriverRegistry(quick_context()).driver_for(target)
    _bos(sim).tuner_enabled = False
    refused = await driver.run(target, "work_mode", {"mode": "normal"})
    assert refused.state == "refused"
    assert refused.result == "refused: the miner rejected SetPowerTarget (tuner is disabled)"
    _bos(sim).unimplemented = {"SetLocateDeviceStatus"}
    missing = await driver.run(target, "fault_light", {"on": True})
    assert missing.state == "refused"
    assert missing.result.startswith(
        "refused: the firmware does not offer SetLocateDeviceStatus (UNIMPLEMENTED"
    )
    assert not sim.miners[0].blinking
    profile = await driver.run(target, "work_mode", {"mode": "475MHz"})  # a LuxOS profile
    assert profile.result == (
        "refused: Braiins OS (gRPC API) has no work mode '475MHz'; its modes: normal, low_power"
    )
    # pool rules the miner would refuse are refused before anything is sent
    out_of_range = await driver.run(target, "removepool", {"pool": 7})
    assert (
        out_of_range.result == "refused: pool 7 does not exist (the miner has 3 pools, 0 = first)"
    )
    assert list(_bos(sim).calls) == []


async def test_a_hung_miner_costs_one_timeout(sim: FleetSimulator) -> None:
    target = await _target(sim)
    await sim.miners[0].set_fault(Fault.HANG)
    driver = DriverRegistry(quick_context(web_timeout_s=1.0)).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert outcome.result.startswith("miner did not answer: no reply from 127.0.0.1:")
    assert outcome.result.endswith("within 1s (timeout)")
    assert time.monotonic() - started < 5.0
    assert not sim.miners[0].sleeping


async def test_a_port_speaking_another_protocol_or_nothing(sim: FleetSimulator) -> None:
    target = await _target(sim)
    driver = BraiinsDriver(quick_context())
    target.grpc_port = sim.miners[1].port  # the cgminer's RPC: not HTTP/2
    wrong = await driver.run(target, "sleep", {})
    assert wrong.state == "failed"
    assert "does not speak gRPC; the firmware does not offer Braiins OS's gRPC API" in wrong.result
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        target.grpc_port = probe.getsockname()[1]  # bound, not listening: refused
    closed = await driver.run(target, "sleep", {})
    assert closed.state == "failed" and "refused the connection" in closed.result
    target.grpc_port = sim.miners[0].grpc_port
    await sim.miners[0].set_fault(Fault.OFFLINE)
    dark = await driver.run(target, "sleep", {})
    assert dark.state == "failed" and dark.result.startswith("miner unreachable:")
    assert not sim.miners[0].sleeping


class _HugeLogin(rpc.AuthenticationServiceServicer):
    """A server answering Login with more than the driver accepts."""

    async def Login(self, request: pb.LoginRequest, context: object) -> pb.LoginResponse:
        return pb.LoginResponse(token="t" * (2 * 1024 * 1024), timeout_s=3600)


async def test_an_oversized_reply_is_refused_unparsed(sim: FleetSimulator) -> None:
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 4 * 1024 * 1024)])
    rpc.add_AuthenticationServiceServicer_to_server(_HugeLogin(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        target = await _target(sim)
        target.grpc_port = port
        outcome = await BraiinsDriver(quick_context()).run(target, "sleep", {})
    finally:
        await server.stop(grace=None)
    assert outcome.state == "failed"
    assert outcome.result.startswith(f"unexpected reply to Login from 127.0.0.1:{port}:")
    assert "larger than max" in outcome.result and "tttt" not in outcome.result


async def test_two_accounts_on_one_pool_url_are_told_apart(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    target = await _target(sim)
    driver = DriverRegistry(quick_context(verify_timeout_s=1.0)).driver_for(target)
    url, worker = miner.pools[0].url, miner.pools[0].user
    params = {"url": url, "user": "customer.worker1", "password": "x"}
    added = await driver.run(target, "addpool", params)  # the same pool, another account
    assert await driver.verify(target, "addpool", params, added) == (
        f"verified: pool {url} (user customer.worker1) is listed"
    )
    await miner.set_fault(Fault.DEAD_POOL, pool=3)  # the customer's account is not accepted
    switched = await driver.run(target, "switchpool", {"pool": 3})
    assert switched.state == "succeeded", switched.result
    assert await driver.verify(target, "switchpool", {"pool": 3}, switched) == (
        "sent, not verified: the miner did not show the change within 1s; "
        f"active pool: {url} (user {worker})"
    )
    gone = await driver.run(target, "removepool", {"pool": 0})
    assert await driver.verify(target, "removepool", {"pool": 0}, gone) == (
        f"verified: pool {url} (user customer.worker1) is no longer listed"
    )
