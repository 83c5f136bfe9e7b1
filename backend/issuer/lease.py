"""The issuer lease: one issuer per database, with expiry and a fencing token.

A holder renews well before expiry. Taking over needs the lease expired, or its holder to be a
dead process on this same host (so a restart after a crash does not wait a full TTL). Each new
holder gets a larger token. Every state change the issuer makes runs `fence()` in the same
transaction: it only succeeds while this holder still holds this token and the lease has not
expired, so an issuer that stalled past its lease cannot write anything once another took over.

Caveat: "dead process on this host" trusts the host name; two containers with the same host name
and separate PID namespaces should set distinct host names (they still cannot both write: the
fencing token stops the older one).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.clock import Clock
from backend.core.db import Database
from backend.issuer.errors import LeaseLost
from backend.issuer.models import IssuerLeaseRow

LEASE_NAME = "issuer"


def make_holder() -> str:
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
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl_s: float,
        *,
        holder: str | None = None,
        name: str = LEASE_NAME,
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
        except IntegrityError:  # another issuer created the row at the same moment
            return False
        if token is None:
            return False
        self.token = token
        self._valid_until = expires
        return True

    async def _try_acquire(self, now: datetime, expires: datetime) -> int | None:
        async with self.db.session() as session:
            row = await session.get(IssuerLeaseRow, self.name)
            if row is None:
                session.add(
                    IssuerLeaseRow(
                        name=self.name,
                        holder=self.holder,
                        token=1,
                        acquired_at=now,
                        renewed_at=now,
                        expires_at=expires,
                    )
                )
                await session.flush()
                token = 1
            else:
                ours = row.holder == self.holder and row.token == self.token
                free = row.expires_at <= now or _local_holder_dead(row.holder)
                if not (ours or free):
                    self._lost()
                    return None
                token = row.token if ours else row.token + 1
                result = await session.execute(
                    update(IssuerLeaseRow)
                    .where(IssuerLeaseRow.name == self.name, IssuerLeaseRow.token == row.token)
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
                update(IssuerLeaseRow)
                .where(
                    IssuerLeaseRow.name == self.name,
                    IssuerLeaseRow.holder == self.holder,
                    IssuerLeaseRow.token == self.token,
                )
                .values(renewed_at=now, expires_at=now + self.ttl)
            )
            if _rowcount(result) != 1:
                self._lost()
                return False
        self._valid_until = now + self.ttl
        return True

    async def fence(self, session: AsyncSession) -> int:
        """Inside a writing transaction: prove we still hold the lease, or raise `LeaseLost`."""
        if self.token is None:
            raise LeaseLost("this issuer does not hold the lease")
        now = self.clock.now()
        result = await session.execute(
            update(IssuerLeaseRow)
            .where(
                IssuerLeaseRow.name == self.name,
                IssuerLeaseRow.holder == self.holder,
                IssuerLeaseRow.token == self.token,
                IssuerLeaseRow.expires_at > now,
            )
            .values(renewed_at=now)
        )
        if _rowcount(result) != 1:
            self._lost()
            raise LeaseLost("the issuer lease was lost (expired or taken over); not writing")
        return self.token

    async def release(self) -> None:
        if self.token is None:
            return
        now = self.clock.now()
        async with self.db.session() as session:
            await session.execute(
                update(IssuerLeaseRow)
                .where(
                    IssuerLeaseRow.name == self.name,
                    IssuerLeaseRow.holder == self.holder,
                    IssuerLeaseRow.token == self.token,
                )
                .values(expires_at=now)
            )
        self._lost()

    async def current(self) -> LeaseInfo | None:
        async with self.db.session() as session:
            row = (
                await session.scalars(
                    select(IssuerLeaseRow).where(IssuerLeaseRow.name == self.name)
                )
            ).first()
        if row is None:
            return None
        return LeaseInfo(row.holder, row.token, row.expires_at, row.acquired_at)

    def _lost(self) -> None:
        self.token = None
        self._valid_until = None


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
