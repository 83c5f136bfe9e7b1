"""Named database leases: one holder per name across processes, with expiry and fencing.

The issuer, the notary scheduler and each fleet shard hold one (rows of `leases`, by name). A
holder renews well before expiry. Taking over needs the lease expired, or its holder to be a dead
process on this same host (so a restart after a crash does not wait a full TTL). Each new holder
gets a larger token. A writer that must never overlap another runs `fence()` in its writing
transaction: it only succeeds while this holder still holds this token and the lease has not
expired, so a holder that stalled past its lease cannot write once another took over.

Caveat: "dead process on this host" trusts the host name; two containers with the same host name
and separate PID namespaces should set distinct host names (they still cannot both write where a
fence is used: the token stops the older one).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.clock import Clock
from backend.core.db import Base, Database, UtcDateTime


class LeaseRow(Base):
    """One named lease: who holds it, until when, and the fencing token of that holder."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LeaseLost(Exception):
    """Another process holds the lease (or ours expired): this one must not write."""


def make_holder() -> str:
    """host:pid:random — the pid lets a restart on the same host take over a crashed holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _local_holder_dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    holder: str
    token: int
    expires_at: datetime
    acquired_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "token": self.token,
            "expires_at": self.expires_at.isoformat(),
            "acquired_at": self.acquired_at.isoformat(),
        }


class Lease:
    """One process's handle on one named lease."""

    lost_error: ClassVar[type[Exception]] = LeaseLost
    what: ClassVar[str] = "lease"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl_s: float,
        *,
        name: str,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self.holder = holder or make_holder()
        self.name = name
        self.token: int | None = None
        self._valid_until: datetime | None = None

    @property
    def held(self) -> bool:
        """Held by us as far as we know locally (the DB fence is the real check)."""
        return (
            self.token is not None
            and self._valid_until is not None
            and self.clock.now() < self._valid_until
        )

    async def acquire(self) -> bool:
        """Take the lease if it is free, expired, ours, or held by a dead local process."""
        now = self.clock.now()
        expires = now + self.ttl
        try:
            token = await self._try_acquire(now, expires)
        except IntegrityError:  # another process created the row at the same moment
            return False
        if token is None:
            return False
        self.token = token
        self._valid_until = expires
        return True

    async def _try_acquire(self, now: datetime, expires: datetime) -> int | None:
        async with self.db.session() as session:
            row = await session.get(LeaseRow, self.name)
            if row is None:
                session.add(
                    LeaseRow(
                        name=self.name,
                        holder=self.holder,
                        token=1,
                        acquired_at=now,
                        renewed_at=now,
                        expires_at=expires,
                    )
                )
                await session.flush()
                return 1
            ours = row.holder == self.holder and row.token == self.token
            free = row.expires_at <= now or _local_holder_dead(row.holder)
            if not (ours or free):
                self._lost()
                return None
            token = row.token if ours else row.token + 1
            result = await session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name, LeaseRow.token == row.token)
                .values(
                    holder=self.holder,
                    token=token,
                    renewed_at=now,
                    expires_at=expires,
                    **({} if ours else {"acquired_at": now}),
                )
            )
            if _rowcount(result) != 1:
                return None
        return token

    async def renew(self) -> bool:
        """Extend our lease; False (and no longer held) when someone else has it now."""
        if self.token is None:
            return await self.acquire()
        now = self.clock.now()
        async with self.db.session() as session:
            result = await session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    LeaseRow.holder == self.holder,
                    LeaseRow.token == self.token,
                )
                .values(renewed_at=now, expires_at=now + self.ttl)
            )
            if _rowcount(result) != 1:
                self._lost()
                return False
        self._valid_until = now + self.ttl
        return True

    async def fence(self, session: AsyncSession) -> int:
        """Inside a writing transaction: prove we still hold the lease, or raise `lost_error`."""
        if self.token is None:
            raise self.lost_error(f"this process does not hold the {self.what}")
        now = self.clock.now()
        result = await session.execute(
            update(LeaseRow)
            .where(
                LeaseRow.name == self.name,
                LeaseRow.holder == self.holder,
                LeaseRow.token == self.token,
                LeaseRow.expires_at > now,
            )
            .values(renewed_at=now)
        )
        if _rowcount(result) != 1:
            self._lost()
            raise self.lost_error(f"the {self.what} was lost (expired or taken over); not writing")
        return self.token

    async def release(self) -> None:
        """Let the next holder in at once (a clean stop)."""
        if self.token is None:
            return
        now = self.clock.now()
        async with self.db.session() as session:
            await session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    LeaseRow.holder == self.holder,
                    LeaseRow.token == self.token,
                )
                .values(expires_at=now)
            )
        self._lost()

    async def current(self) -> LeaseInfo | None:
        async with self.db.session() as session:
            row = await session.get(LeaseRow, self.name)
        if row is None:
            return None
        return LeaseInfo(row.holder, row.token, row.expires_at, row.acquired_at)

    def _lost(self) -> None:
        self.token = None
        self._valid_until = None


async def live_holders(db: Database, clock: Clock) -> list[tuple[str, LeaseInfo]]:
    """(name, info) of every lease a live process holds: a backend is running on this database.

    Offline maintenance (secret rotation) refuses to run while any is listed."""
    now = clock.now()
    async with db.session() as session:
        rows = (await session.scalars(select(LeaseRow))).all()
    return [
        (row.name, LeaseInfo(row.holder, row.token, row.expires_at, row.acquired_at))
        for row in rows
        if row.expires_at > now and not _local_holder_dead(row.holder)
    ]


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
