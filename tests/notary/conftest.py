"""Fixtures for the notary pipeline: a real database, an embedded chain, a local store."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from backend.core.bus import EventBus
from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database, run_migrations
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.notary.anchor import AnchorChain, embedded_chain
from backend.notary.ipfs_store import LocalIpfsStore
from backend.notary.pinata import PinataClient
from backend.notary.pipeline import NotaryPipeline
from backend.notary.signing import NotaryKey
from hashinsight_contract.notary import NotarizationOut

NOTARY_KEY = "0x" + "4c" * 32
OTHER_KEY = "0x" + "7d" * 32


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def make_key(secret: str = NOTARY_KEY) -> NotaryKey:
    return NotaryKey(Account.from_key(secret), "test")


@dataclass
class Parts:
    db: Database
    bus: EventBus
    health: HealthRegistry
    http: HttpClientFactory
    store: LocalIpfsStore
    chain: AnchorChain
    key: NotaryKey = field(default_factory=make_key)
    services: dict[str, object] = field(default_factory=dict)

    def pipeline(self, **overrides: Any) -> NotaryPipeline:
        """A fresh pipeline over the same database, store and chain (a 'restarted process')."""
        values: dict[str, Any] = {
            "db": self.db,
            "bus": self.bus,
            "clock": SYSTEM_CLOCK,
            "key": self.key,
            "store": self.store,
            "pinata": None,
            "chain": self.chain,
            "services": lambda: self.services,
            "confirmations": 2,
            "receipt_timeout_s": 10.0,
            "max_attempts": 3,
            "audit_rows_max": 100,
        }
        values.update(overrides)
        return NotaryPipeline(**values)

    def pinata(self, url: str, jwt: str) -> PinataClient:
        return PinataClient(self.http, url, url, jwt, 5.0)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database at the latest schema, migrated once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("notary-template") / "template.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def parts(tmp_path: Path, migrated_db: Path) -> AsyncIterator[Parts]:
    shutil.copyfile(migrated_db, tmp_path / "notary.db")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'notary.db'}")
    bus = EventBus()
    health = HealthRegistry(bus)
    http = HttpClientFactory(health, timeout_s=5.0, retries=2, backoff_base_s=0.01)
    chain = embedded_chain(health, 15.0)
    try:
        yield Parts(db, bus, health, http, LocalIpfsStore(tmp_path / "ipfs"), chain)
    finally:
        await chain.close()
        await http.aclose()
        await db.close()


async def notarize(pipeline: NotaryPipeline, hours: float = 1.0) -> NotarizationOut:
    """Create a notarization of the last `hours` and run it to its end."""
    end = SYSTEM_CLOCK.now()
    view = await pipeline.create(
        trigger="manual",
        requested_by="test",
        period_start=end - timedelta(hours=hours),
        period_end=end,
    )
    result = await pipeline.run(view.id)
    assert result is not None
    return result


def crash_after(step: str) -> Callable[[int, str], Any]:
    async def hook(_notarization_id: int, name: str) -> None:
        if name == step:
            raise Crash(f"died after {step}")

    return hook
