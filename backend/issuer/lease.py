"""The issuer's lease: the generic named lease (`backend.core.lease`) under the name "issuer",
raising the issuer's own `LeaseLost` so the engine's error handling stays as it is."""

from __future__ import annotations

from typing import ClassVar

from backend.core.clock import Clock
from backend.core.db import Database
from backend.core.lease import Lease as NamedLease
from backend.core.lease import LeaseInfo, make_holder
from backend.issuer.errors import LeaseLost

LEASE_NAME = "issuer"

__all__ = ["LEASE_NAME", "Lease", "LeaseInfo", "make_holder"]


class Lease(NamedLease):
    """One issuer per database."""

    lost_error: ClassVar[type[Exception]] = LeaseLost
    what: ClassVar[str] = "issuer lease"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl_s: float,
        *,
        holder: str | None = None,
        name: str = LEASE_NAME,
    ) -> None:
        super().__init__(db, clock, ttl_s, name=name, holder=holder)
