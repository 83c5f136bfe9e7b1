"""Rotate the notary key file: a new key signs and anchors from the next start on.

Why offline: a notarization signed with one key must be anchored from the same address (verify
checks the anchor's sender against the signer), so the key changes only while no backend runs
and no notarization is half-way. Earlier notarizations keep verifying: each records its signer.
The old key is kept beside the new one (`notary.key.old-<UTC time>`, 0600) for the offline backup;
it still controls the old address and whatever funds are left there.
"""

from __future__ import annotations

import secrets as std_secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from backend.core.audit import record_audit
from backend.core.clock import SYSTEM_CLOCK, Clock
from backend.core.db import Database
from backend.core.lease import live_holders
from backend.core.secrets import read_private_file, write_private_file
from backend.notary.models import NotarizationRow
from backend.notary.settings import NotarySettings
from backend.notary.signing import NotaryKeyError, account_from_hex, key_file


@dataclass(frozen=True)
class KeyRotation:
    old_address: str | None  # None: there was no key file yet
    new_address: str
    kept_as: Path | None


async def rotate_notary_key(
    settings: NotarySettings, *, clock: Clock = SYSTEM_CLOCK, actor: str = "cli"
) -> KeyRotation:
    """Replace `secrets/notary.key` with a fresh key; NotaryKeyError says why it cannot."""
    if settings.blockchain_private_key is not None:
        raise NotaryKeyError(
            "the notary key comes from BLOCKCHAIN_PRIVATE_KEY: put the new key there instead"
        )
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        running = await live_holders(db, clock)
        if running:
            names = ", ".join(f"{name} ({info.holder})" for name, info in running)
            raise NotaryKeyError(f"a backend is running on this database ({names}): stop it first")
        async with db.session() as session:
            unfinished = await session.scalar(
                select(func.count()).where(NotarizationRow.status == "running")
            )
        if unfinished:
            raise NotaryKeyError(
                f"{unfinished} notarization(s) are not finished: start the backend to let them "
                "complete (or fail) under the current key, then rotate"
            )
        path = key_file(settings)
        old_address, kept_as = None, None
        if path.exists():
            old_text = read_private_file(path)
            old_address = str(account_from_hex(old_text.decode("ascii", "replace")).address)
            stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
            kept_as = path.with_name(f"{path.name}.old-{stamp}")
            write_private_file(kept_as, old_text)
        new_text = "0x" + std_secrets.token_hex(32)
        new_address = str(account_from_hex(new_text).address)
        write_private_file(path, new_text.encode() + b"\n")
        async with db.session() as session:
            record_audit(
                session,
                actor=actor,
                action="notary.key.rotate",
                target=new_address,
                detail={"old_address": old_address, "new_address": new_address},
            )
        return KeyRotation(old_address, new_address, kept_as)
    finally:
        await db.close()
