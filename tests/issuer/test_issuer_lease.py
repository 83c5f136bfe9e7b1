"""The issuer lease: expiry, takeover with a larger fencing token, fenced writes."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.issuer.errors import LeaseLost
from backend.issuer.lease import Lease


@pytest.fixture
def db(database: Database) -> Database:
    """The lease runs on SQLite and on PostgreSQL (see tests/conftest.py)."""
    return database


async def test_one_holder_at_a_time_and_takeover_after_expiry(db: Database) -> None:
    clock = ManualClock()
    first = Lease(db, clock, ttl_s=10, holder="host-a:1:x")
    second = Lease(db, clock, ttl_s=10, holder="host-b:2:y")
    assert await first.acquire() and first.token == 1 and first.held
    assert not await second.acquire() and not second.held
    clock.advance(6)
    assert await first.renew()  # renewing pushes expiry to t+16
    clock.advance(6)
    assert not await second.acquire()
    clock.advance(11)  # first stalled: its lease ran out
    assert not first.held
    assert await second.acquire() and second.token == 2
    # The stalled holder can neither renew nor write any more.
    assert not await first.renew() and first.token is None
    async with db.session() as session:
        with pytest.raises(LeaseLost):
            await first.fence(session)
    async with db.session() as session:
        assert await second.fence(session) == 2
    info = await second.current()
    assert info is not None and info.holder == "host-b:2:y" and info.token == 2


async def test_fence_fails_once_expired_even_without_a_new_holder(db: Database) -> None:
    clock = ManualClock()
    lease = Lease(db, clock, ttl_s=5, holder="h:1:a")
    assert await lease.acquire()
    clock.advance(6)
    async with db.session() as session:
        with pytest.raises(LeaseLost, match="not writing"):
            await lease.fence(session)


async def test_release_lets_the_next_issuer_in_at_once(db: Database) -> None:
    clock = ManualClock()
    first = Lease(db, clock, ttl_s=30, holder="h:1:a")
    second = Lease(db, clock, ttl_s=30, holder="h:2:b")
    assert await first.acquire()
    await first.release()
    assert await second.acquire() and second.token == 2


async def test_a_dead_process_on_this_host_is_taken_over_without_waiting(db: Database) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()  # exited and reaped: its pid is dead
    dead_pid = proc.pid
    clock = ManualClock()
    crashed = Lease(db, clock, ttl_s=60, holder=f"{socket.gethostname()}:{dead_pid}:zz")
    assert await crashed.acquire()
    restarted = Lease(db, clock, ttl_s=60)
    assert await restarted.acquire() and restarted.token == 2
    # A live holder elsewhere (or a live local pid) is never taken over before expiry.
    live = Lease(db, clock, ttl_s=60, holder="other-host:1:q")
    assert not await live.acquire()
