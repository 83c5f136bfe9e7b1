"""Client against the loopback fleet simulator: polls, faults, fallbacks, privileged commands."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import time
from collections.abc import AsyncIterator

import pytest

from backend.fleet.client import (
    CgminerClient,
    CgminerConnectionError,
    MultiOutcome,
    poll,
    poll_many,
)
from backend.fleet.codec import CgminerCommandError, parse_status
from backend.fleet.normalize import MinerSnapshot, normalize
from backend.sim.fleet import FAMILIES, WHATSMINER_FW, Fault, FleetSimulator, SimMiner, main
from tests.helpers import free_port

FAST = {"connect_timeout": 1.0, "read_timeout": 1.0}
DOWNTIME = 0.4


@pytest.fixture
async def fleet() -> AsyncIterator[FleetSimulator]:
    """One miner per family: antminer, whatsminer, braiins, cgminer (in that order)."""
    async with FleetSimulator(
        4, use_ports=True, families=FAMILIES, restart_downtime_s=DOWNTIME, seed=7
    ) as sim:
        yield sim


def by_family(sim: FleetSimulator, family: str) -> SimMiner:
    return next(m for m in sim.miners if m.family == family)


async def poll_miner(miner: SimMiner, **options: float) -> MinerSnapshot:
    return await poll(*miner.address, **{**FAST, **options})


async def wait_for_status(miner: SimMiner, status: str, within: float = 5.0) -> MinerSnapshot:
    deadline = time.monotonic() + within
    while True:
        snap = await poll_miner(miner)
        if snap.status == status or time.monotonic() > deadline:
            return snap
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- polling


async def test_poll_antminer(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    snap = await poll_miner(miner)
    assert snap.status == "online" and snap.error is None
    assert snap.model == "Antminer S19 Pro"
    assert snap.firmware == "BMMiner 1.0.0 (49.0.1.3)"
    assert snap.hashrate_ths == pytest.approx(110.0, rel=0.06)
    assert snap.hashrate_expected_ths == 110.0
    assert [b.chips_ok for b in snap.boards] == [114, 114, 114]
    assert [b.chips_failed for b in snap.boards] == [0, 0, 0]
    assert len(snap.fans_rpm) == 4 and all(rpm > 3000 for rpm in snap.fans_rpm)
    assert snap.temp_chip_max_c is not None and 55 < snap.temp_chip_max_c < 85
    assert [p.active for p in snap.pools] == [True, False, False]
    assert snap.pools[0].url == miner.pools[0].url
    assert snap.uptime_s is not None and snap.uptime_s >= 7200
    assert list(miner.requests) == ["version+summary+pools+stats+devs+devdetails"]  # one


async def test_poll_whatsminer(fleet: FleetSimulator) -> None:
    snap = await poll_miner(by_family(fleet, "whatsminer"))
    assert snap.status == "online"
    assert snap.model == "Whatsminer M31SV10"
    assert snap.firmware == WHATSMINER_FW
    assert snap.hashrate_ths == pytest.approx(68.8, rel=0.06)
    assert snap.hashrate_expected_ths == pytest.approx(68.8)
    assert snap.power_w is not None and snap.efficiency_jth is not None
    assert len(snap.fans_rpm) == 2
    assert [b.chips_ok for b in snap.boards] == [105, 105, 105]


async def test_poll_braiins_and_cgminer(fleet: FleetSimulator) -> None:
    bos = await poll_miner(by_family(fleet, "braiins"))
    assert bos.status == "online"
    assert bos.firmware is not None and bos.firmware.startswith("BOSer")
    assert len(bos.fans_rpm) == 4 and bos.power_w is not None
    assert all(b.temp_board_c is not None and b.chips_ok == 126 for b in bos.boards)
    cg = await poll_miner(by_family(fleet, "cgminer"))
    assert cg.status == "online"
    assert (cg.model, cg.firmware) == (None, "CGMiner 4.11.1")
    assert cg.hashrate_ths == pytest.approx(13.5, rel=0.06)


async def test_state_evolves_with_time() -> None:
    async with FleetSimulator(1, use_ports=True, families=["antminer"], speed=2000) as sim:
        first = await poll_miner(sim.miners[0])
        await asyncio.sleep(0.3)
        second = await poll_miner(sim.miners[0])
    assert first.uptime_s is not None and second.uptime_s is not None
    assert second.uptime_s - first.uptime_s >= 400
    assert (second.accepted or 0) > (first.accepted or 0)
    assert second.pools[0].accepted is not None and first.pools[0].accepted is not None
    assert second.pools[0].accepted > first.pools[0].accepted


async def test_text_mode_client(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    client = CgminerClient(*miner.address, text_mode=True, **FAST)
    replies = await client.multi(["summary", "stats", "pools"])
    assert list(miner.requests) == ["summary+stats+pools"]
    snap = normalize(replies)
    assert snap.status == "online"
    assert snap.hashrate_ths == pytest.approx(110.0, rel=0.06)
    assert len(snap.boards) == 3 and len(snap.pools) == 3


async def test_poll_many_fifty_miners() -> None:
    async with FleetSimulator(50, use_ports=True, seed=3) as sim:
        started = time.monotonic()
        snaps = await poll_many(sim.addresses, concurrency=25, **FAST)
        elapsed = time.monotonic() - started
    assert len(snaps) == 50
    assert {s.status for s in snaps} == {"online"}
    assert len({s.model for s in snaps}) >= 3  # a real mix of firmwares
    assert elapsed < 10


async def test_loopback_alias_addresses() -> None:
    """Each miner on its own 127.x.y.z:4028 (Linux routes all of 127/8 to lo)."""
    pid = os.getpid()
    base = f"127.{100 + pid % 100}.{(pid // 100) % 250 + 1}.1"
    sim = FleetSimulator(3, base_ip=base, families=["antminer", "whatsminer", "cgminer"])
    try:
        await sim.start()
    except RuntimeError as exc:
        pytest.skip(f"loopback aliases unavailable here: {exc}")
    try:
        assert len({m.host for m in sim.miners}) == 3
        assert {m.port for m in sim.miners} == {4028}
        snaps = await poll_many(sim.addresses, **FAST)
    finally:
        await sim.stop()
    assert [s.status for s in snaps] == ["online"] * 3


# --------------------------------------------------------------------------- faults


async def test_offline_is_refused_then_recovers(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    await miner.set_fault(Fault.OFFLINE)
    snap = await poll_miner(miner)
    assert (snap.status, snap.error) == ("offline", "connection refused")
    with pytest.raises(CgminerConnectionError) as info:
        await CgminerClient(*miner.address, **FAST).command("summary")
    assert info.value.offline is True
    await miner.clear_fault(Fault.OFFLINE)
    assert (await poll_miner(miner)).status == "online"


async def test_hang_costs_one_timeout(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "cgminer")
    await miner.set_fault(Fault.HANG)
    started = time.monotonic()
    snap = await poll_miner(miner, read_timeout=0.3)
    elapsed = time.monotonic() - started
    assert snap.status == "error"
    assert snap.error == "timeout after 0.3s reading reply"
    assert elapsed < 1.5
    await asyncio.sleep(0.1)
    assert miner.open_connections == 0  # our socket was closed, the server side ended


async def test_connect_timeout_is_offline() -> None:
    """A full accept queue drops SYNs: the connect never completes."""
    server = socket.socket()
    fillers: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        snap = await poll("127.0.0.1", port, connect_timeout=0.3, read_timeout=0.3)
        elapsed = time.monotonic() - started
    finally:
        for sock in [server, *fillers]:
            sock.close()
    if snap.error is not None and "connecting" not in snap.error:
        pytest.skip(f"kernel accepted the connection anyway ({snap.error})")
    assert (snap.status, snap.error) == ("offline", "timeout after 0.3s connecting")
    assert elapsed < 1.0


async def test_slow_handshake_sends_once_connected() -> None:
    """A connect still in progress (here: a full accept queue drops the first SYN) is not
    written to until the socket turns writable; the request then goes out and is answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers: list[socket.socket] = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    await asyncio.sleep(0.1)
    requests: list[bytes] = []

    def serve() -> None:
        for filler in fillers:
            filler.close()
        with contextlib.suppress(OSError):
            while True:  # the fillers first, then the client once its SYN is retried
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(5)
                    data = conn.recv(1024)
                    if data:
                        requests.append(data)
                        conn.sendall(b'{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{}]}\x00')
                        return

    serving = asyncio.get_running_loop().run_in_executor(None, serve)
    try:
        client = CgminerClient("127.0.0.1", port, connect_timeout=10, read_timeout=10)
        reply = await client.command("summary")
        await asyncio.wait_for(serving, 10)
    finally:
        server.close()
    assert parse_status(reply).code == 11
    assert requests == [b'{"command":"summary"}']


async def test_reply_without_close_is_used_after_timeout() -> None:
    """A complete reply from a server that keeps the socket open is not lost."""
    reply = b'{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary"}],"SUMMARY":[{}]}'

    async def keep_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(reply)
        await writer.drain()
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(keep_open, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        client = CgminerClient("127.0.0.1", port, connect_timeout=1.0, read_timeout=0.3)
        started = time.monotonic()
        result = await client.command("summary")
        assert time.monotonic() - started < 1.0
        assert parse_status(result).code == 11
    finally:
        server.close()


async def test_slow_miner_within_and_beyond_timeout(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    await miner.set_fault(Fault.SLOW, delay_s=0.2)
    assert (await poll_miner(miner, read_timeout=1.0)).status == "online"
    await miner.set_fault(Fault.SLOW, delay_s=2.0)
    snap = await poll_miner(miner, read_timeout=0.3)
    assert (snap.status, snap.error) == ("error", "timeout after 0.3s reading reply")


async def test_garbage_reply(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    await miner.set_fault(Fault.GARBAGE)
    snap = await poll_miner(miner)
    assert snap.status == "error"
    assert snap.error is not None and snap.error.startswith("malformed reply: ")
    assert len(snap.error) < 250


async def test_truncated_reply(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "whatsminer")
    await miner.set_fault(Fault.TRUNCATED, fraction=0.6)
    snap = await poll_miner(miner)
    assert snap.status == "error"
    assert snap.error is not None and snap.error.startswith("malformed reply: truncated reply")


async def test_connection_reset(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "braiins")
    await miner.set_fault(Fault.RESET)
    snap = await poll_miner(miner)
    assert (snap.status, snap.error) == ("error", "connection reset")


async def test_reply_size_is_bounded(fleet: FleetSimulator) -> None:
    snap = await poll_miner(by_family(fleet, "antminer"), max_reply_bytes=500)
    assert snap.status == "error"
    assert snap.error is not None and "reply larger than 500 bytes" in snap.error


async def test_hardware_faults_show_in_snapshot(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    await miner.set_fault(Fault.BOARD_FAILURE, board=2, failed_chips=30)
    await miner.set_fault(Fault.OVERHEAT, delta_c=30)
    snap = await poll_miner(miner)
    assert [(b.chips_ok, b.chips_failed) for b in snap.boards] == [(114, 0), (114, 0), (84, 30)]
    assert snap.temp_chip_max_c is not None and snap.temp_chip_max_c > 90
    assert snap.hashrate_ths == pytest.approx(110 * (2 + 84 / 114) / 3, rel=0.06)
    await miner.clear_fault()
    await miner.set_fault(Fault.HASHRATE_DROP, factor=0.5)
    assert (await poll_miner(miner)).hashrate_ths == pytest.approx(55, rel=0.06)


async def test_whole_board_failure_on_whatsminer(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "whatsminer")
    await miner.set_fault(Fault.BOARD_FAILURE)  # default: last board, every chip
    snap = await poll_miner(miner)
    assert [b.chips_ok for b in snap.boards] == [105, 105, 0]
    assert snap.boards[2].hashrate_ths == 0.0


async def test_dead_pool_fails_over(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "cgminer")
    await miner.set_fault(Fault.DEAD_POOL)
    snap = await poll_miner(miner)
    assert [(p.status, p.active) for p in snap.pools] == [
        ("dead", False),
        ("alive", True),
        ("alive", False),
    ]
    await miner.set_fault(Fault.DEAD_POOL, pool="all")
    snap = await poll_miner(miner)
    assert all(not p.active for p in snap.pools)
    assert snap.hashrate_ths == 0.0


# --------------------------------------------------------------------------- joins


async def test_whatsminer_join_fallback(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "whatsminer")
    client = CgminerClient(*miner.address, **FAST)
    replies = await client.multi(["summary", "get_version", "pools"])
    assert list(replies) == ["summary", "get_version", "pools"]
    assert all(not parse_status(r).is_error for r in replies.values())
    assert replies["get_version"]["Msg"]["fw_ver"] == WHATSMINER_FW
    assert list(miner.requests) == ["summary+get_version+pools", "summary", "get_version", "pools"]
    # The refusal is remembered: no second failed join for the same set.
    await client.multi(["summary", "get_version", "pools"])
    assert list(miner.requests)[4:] == ["summary", "get_version", "pools"]
    # Plain cgminer commands still join on the same client.
    await client.multi(["summary", "pools"])
    assert list(miner.requests)[-1] == "summary+pools"


async def started(client: CgminerClient, commands: list[str]) -> MultiOutcome:
    """What ``start_multi`` hands its callback."""
    got: asyncio.Future[MultiOutcome] = asyncio.get_running_loop().create_future()
    assert client.start_multi(commands, got.set_result) is not None
    return await got


async def test_a_started_multi_ends_as_multi_would(fleet: FleetSimulator) -> None:
    plan = ["summary", "pools", "devs"]
    for miner in fleet.miners:  # the common case: every part, read as the reply arrives
        client = CgminerClient(*miner.address, **FAST)
        outcome = await started(client, plan)
        assert isinstance(outcome, dict) and list(outcome) == plan
        assert all(not parse_status(reply).is_error for reply in outcome.values())
        assert list(miner.requests)[-1] == "summary+pools+devs"  # one connection
    whatsminer = by_family(fleet, "whatsminer")
    client = CgminerClient(*whatsminer.address, **FAST)
    refused = ["summary", "get_version", "pools"]
    rest = await started(client, refused)  # a refused join: the rest of the work, to await
    assert inspect.iscoroutine(rest)
    assert list(await rest) == refused
    assert list(whatsminer.requests)[-3:] == refused  # asked one by one, as multi does
    assert client.start_multi(refused, print) is None  # remembered: multi's job from now on
    nobody = CgminerClient("127.0.0.1", free_port(), **FAST)
    down = await started(nobody, plan)  # the error multi raises, handed over
    assert isinstance(down, CgminerConnectionError) and down.offline
    assert CgminerClient("localhost", 4028).start_multi(plan, print) is None  # a name: multi


async def test_join_parts_with_errors_are_kept(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "cgminer")
    replies = await CgminerClient(*miner.address, **FAST).multi(["summary", "nosuchcmd"])
    assert parse_status(replies["nosuchcmd"]).code == 14
    assert not parse_status(replies["summary"]).is_error


# --------------------------------------------------------------------------- privileged


async def test_access_denied_for_read_only_miner() -> None:
    async with FleetSimulator(1, use_ports=True, families=["antminer"], read_only=[0]) as sim:
        miner = sim.miners[0]
        client = CgminerClient(*miner.address, **FAST)
        with pytest.raises(CgminerCommandError) as info:
            await client.restart()
        assert info.value.code == 45
        assert str(info.value) == "access denied (miner API is read-only for this host)"
        assert info.value.msg == "Access denied to 'restart' command"
        with pytest.raises(CgminerCommandError):
            await client.switch_pool(1)
        assert await client.check_privileged() is False
        assert miner.listening and not miner.restarting
        assert (await poll_miner(miner)).pools[0].active  # nothing changed


async def test_api_allow_semantics() -> None:
    # Loopback matches the R: rule -> reads work, privileged commands are denied.
    async with FleetSimulator(
        1, use_ports=True, families=["cgminer"], api_allow="W:10.0.0/24,R:127.0.0.0/8"
    ) as sim:
        client = CgminerClient(*sim.miners[0].address, **FAST)
        assert (await poll_miner(sim.miners[0])).status == "online"
        assert await client.check_privileged() is False
    # No rule matches -> cgminer closes without reading: FIN or (data unread) RST.
    async with FleetSimulator(
        1, use_ports=True, families=["cgminer"], api_allow="W:10.0.0.1"
    ) as sim:
        snap = await poll_miner(sim.miners[0])
        assert snap.status == "error"
        assert snap.error in ("empty reply (miner closed the connection)", "connection reset")


async def test_restart_goes_offline_then_comes_back(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    before = await poll_miner(miner)
    client = CgminerClient(*miner.address, **FAST)
    status = await client.restart()
    assert (status.status, status.msg) == ("S", "RESTART")
    down = await wait_for_status(miner, "offline", within=2.0)
    assert (down.status, down.error) == ("offline", "connection refused")
    back = await wait_for_status(miner, "online", within=DOWNTIME + 3.0)
    assert back.status == "online"
    assert before.uptime_s is not None and back.uptime_s is not None
    assert back.uptime_s < 60 < before.uptime_s
    assert (back.accepted or 0) < (before.accepted or 0)


async def test_switchpool_changes_active_pool(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    client = CgminerClient(*miner.address, **FAST)
    status = await client.switch_pool(2)
    assert status.code == 27 and "Switching to pool 2" in status.msg
    snap = await poll_miner(miner)
    active = [p for p in snap.pools if p.active]
    assert len(active) == 1
    assert active[0].url == "stratum+tcp://btc.sim-failover.example:700"
    assert active[0].priority == 0
    with pytest.raises(CgminerCommandError) as info:
        await client.switch_pool(9)
    assert info.value.code == 26


async def test_pool_management(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "cgminer")
    client = CgminerClient(*miner.address, **FAST)
    added = await client.add_pool("stratum+tcp://new.example:3333", "me.worker", "x")
    assert added.code == 55
    assert [p.url for p in (await poll_miner(miner)).pools][-1] == "stratum+tcp://new.example:3333"

    assert (await client.disable_pool(0)).code == 48
    snap = await poll_miner(miner)
    assert [p.status for p in snap.pools][:2] == ["disabled", "alive"]
    assert snap.pools[1].active
    assert (await client.disable_pool(0)).status == "I"  # already disabled: info, not error

    assert (await client.enable_pool(0)).code == 47
    assert (await poll_miner(miner)).pools[0].active

    assert (await client.remove_pool(3)).code == 68
    assert len((await poll_miner(miner)).pools) == 3


async def test_sleep_and_wake(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "antminer")
    client = CgminerClient(*miner.address, **FAST)
    await client.set_sleep(True)
    snap = await poll_miner(miner)
    assert (snap.status, snap.hashrate_ths) == ("sleeping", 0.0)
    await client.set_sleep(False)
    assert (await poll_miner(miner)).status == "online"
    with pytest.raises(CgminerCommandError):  # Whatsminer needs its token API for this
        await CgminerClient(*by_family(fleet, "whatsminer").address, **FAST).set_sleep(True)


async def test_whatsminer_sleeping_status(fleet: FleetSimulator) -> None:
    miner = by_family(fleet, "whatsminer")
    miner.sleeping = True
    client = CgminerClient(*miner.address, **FAST)
    replies = await client.multi(["summary", "devs", "status"])
    assert normalize(replies).status == "sleeping"


# --------------------------------------------------------------------------- CLI


def test_cli_main_runs_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--count", "3", "--ports", "--base-port", "0", "--duration", "0.2", "--list"])
    out = capsys.readouterr().out
    assert code == 0
    assert "simulating 3 miners on 127.0.0.1:" in out
    assert out.count("miner 127.0.0.1:") == 3  # --list prints describe()
    assert "simulator stopped" in out
