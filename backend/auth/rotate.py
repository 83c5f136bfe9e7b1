"""Rotate the API-key pepper and/or the Fernet key, re-hashing and re-encrypting every stored key.

Procedure (documented in docs/partner-api.md and docs/deploy.md):
  1. stop the backend;
  2. `hashinsight keys rotate-secrets --pepper --fernet` (either or both; it refuses while a
     backend holds a lease on the database);
     new values come from HASHINSIGHT_NEW_PEPPER / HASHINSIGHT_NEW_FERNET_KEY, or are generated;
  3. file-held secrets are replaced in place (the old ones kept as `<name>.old`, 0600); a secret
     held in the environment must be given its new value in HASHINSIGHT_NEW_* (never generated,
     so it cannot be lost), and you then set HASHINSIGHT_PEPPER / HASHINSIGHT_FERNET_KEY to it;
  4. start the backend: every key keeps working, under the new secrets.

Each key's clear value is recovered from its Fernet copy, so the pepper can change although keys are
only stored hashed. Everything the Fernet key protects is re-encrypted (API keys, partner webhook
secrets, miners' control passwords), in one transaction: a failure changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from backend.auth.keys import hash_key
from backend.auth.models import ApiKeyRow, PartnerRow
from backend.core.audit import record_audit
from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database
from backend.core.lease import live_holders
from backend.core.secrets import (
    BackendSecrets,
    load_backend_secrets,
    write_private_file,
)
from backend.core.settings import CoreSettings
from backend.fleet.models import FleetCredentialRow
from backend.settings import SettingsError, load_settings


class RotationError(Exception):
    """Rotation cannot go ahead; nothing was changed."""


@dataclass(frozen=True)
class RotationResult:
    keys: int
    partners: int
    credentials: int
    pepper_rotated: bool
    fernet_rotated: bool
    new_pepper: bytes | None
    new_fernet_key: bytes | None

    def __repr__(self) -> str:
        return (
            f"RotationResult(keys={self.keys}, partners={self.partners}, "
            f"credentials={self.credentials}, "
            f"pepper={self.pepper_rotated}, fernet={self.fernet_rotated})"
        )


async def rotate_secrets(
    settings: CoreSettings,
    *,
    pepper: bool,
    fernet: bool,
    new_pepper: bytes | None = None,
    new_fernet_key: bytes | None = None,
) -> RotationResult:
    if not (pepper or fernet):
        raise RotationError("nothing to rotate: pass --pepper and/or --fernet")
    if pepper and settings.pepper is not None and new_pepper is None:
        raise RotationError(
            "the pepper comes from the environment: give the new one in HASHINSIGHT_NEW_PEPPER"
        )
    if fernet and settings.fernet_key is not None and new_fernet_key is None:
        raise RotationError(
            "the Fernet key comes from the environment: give the new one in "
            "HASHINSIGHT_NEW_FERNET_KEY"
        )
    old = load_backend_secrets(settings)
    pepper_value = (new_pepper or os.urandom(32).hex().encode()) if pepper else old.pepper
    if len(pepper_value) < 16:
        raise RotationError("the new pepper must be at least 16 characters")
    fernet_key = (new_fernet_key or Fernet.generate_key()) if fernet else None
    try:
        new_fernet = Fernet(fernet_key) if fernet_key else old.fernet
    except ValueError:
        raise RotationError("the new Fernet key is not 32 url-safe base64 bytes") from None
    new = BackendSecrets(pepper=pepper_value, fernet=new_fernet, hasher=old.hasher)
    secrets_dir = settings.data_dir / "secrets"
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        running = await live_holders(db, SYSTEM_CLOCK)
        if running:  # it would go on hashing and encrypting with the old secrets
            names = ", ".join(f"{name} ({info.holder})" for name, info in running)
            raise RotationError(f"a backend is running on this database ({names}): stop it first")
        staged = _stage_files(settings, secrets_dir, pepper_value if pepper else None, fernet_key)
        try:
            keys, partners, credentials = await _rewrite(db, old, new, pepper)
        except BaseException:
            for path in staged:
                path.unlink(missing_ok=True)
            raise
    finally:
        await db.close()
    for path in staged:
        live = path.with_suffix("")
        if live.exists():
            os.replace(live, live.with_name(live.name + ".old"))
        os.replace(path, live)
    return RotationResult(
        keys, partners, credentials, pepper, fernet, pepper_value if pepper else None, fernet_key
    )


def _stage_files(
    settings: CoreSettings, secrets_dir: Path, pepper: bytes | None, fernet_key: bytes | None
) -> list[Path]:
    """Write new file-held secrets as `<name>.new` before touching the database."""
    staged: list[Path] = []
    if pepper is not None and settings.pepper is None:
        path = secrets_dir / "pepper.new"
        write_private_file(path, pepper + b"\n")
        staged.append(path)
    if fernet_key is not None and settings.fernet_key is None:
        path = secrets_dir / "fernet.key.new"
        write_private_file(path, fernet_key + b"\n")
        staged.append(path)
    return staged


async def _rewrite(
    db: Database, old: BackendSecrets, new: BackendSecrets, rehash: bool
) -> tuple[int, int, int]:
    async with db.session() as session:
        rows = list(await session.scalars(select(ApiKeyRow)))
        for row in rows:
            try:
                full_key = old.fernet.decrypt(row.secret_encrypted).decode()
            except InvalidToken:
                raise RotationError(
                    f"key {row.key_id}: its stored copy does not decrypt with the current "
                    "Fernet key; nothing was changed"
                ) from None
            if rehash:
                row.secret_hash = await asyncio.to_thread(
                    hash_key, full_key, new.pepper, new.hasher
                )
            row.secret_encrypted = new.fernet.encrypt(full_key.encode())
        partners = list(await session.scalars(select(PartnerRow)))
        for partner in partners:
            try:
                secret = old.fernet.decrypt(partner.secret_encrypted)
            except InvalidToken:
                raise RotationError(
                    f"partner {partner.partner_id}: its secret does not decrypt; nothing changed"
                ) from None
            partner.secret_encrypted = new.fernet.encrypt(secret)
        credentials = list(
            await session.scalars(
                select(FleetCredentialRow).where(FleetCredentialRow.secret_encrypted.is_not(None))
            )
        )
        for credential in credentials:
            assert credential.secret_encrypted is not None
            try:
                password = old.fernet.decrypt(credential.secret_encrypted)
            except InvalidToken:
                raise RotationError(
                    f"the {credential.kind} credential of {credential.scope} "
                    f"{credential.target} does not decrypt; nothing changed (remove or set it "
                    "again with hashinsight fleet credentials)"
                ) from None
            credential.secret_encrypted = new.fernet.encrypt(password)
        record_audit(
            session,
            actor="rotate-secrets",
            action="secrets.rotate",
            detail={
                "keys": len(rows),
                "partners": len(partners),
                "fleet_credentials": len(credentials),
                "rehash": rehash,
            },
        )
    return len(rows), len(partners), len(credentials)


def run(settings: CoreSettings, *, pepper: bool, fernet: bool) -> int:
    """The command: new values from HASHINSIGHT_NEW_PEPPER / HASHINSIGHT_NEW_FERNET_KEY or
    generated; prints what changed and what the operator must do next; exit 2 on refusal."""
    new_pepper = os.environ.get("HASHINSIGHT_NEW_PEPPER")
    new_fernet = os.environ.get("HASHINSIGHT_NEW_FERNET_KEY")
    try:
        result = asyncio.run(
            rotate_secrets(
                settings,
                pepper=pepper,
                fernet=fernet,
                new_pepper=new_pepper.encode() if new_pepper else None,
                new_fernet_key=new_fernet.encode() if new_fernet else None,
            )
        )
    except RotationError as exc:
        print(f"rotate: {exc}", file=sys.stderr)
        return 2
    print(
        f"rotated: {result.keys} keys, {result.partners} partners, "
        f"{result.credentials} miner credentials re-protected"
    )
    if result.pepper_rotated and settings.pepper is not None:
        print("now set HASHINSIGHT_PEPPER to the value of HASHINSIGHT_NEW_PEPPER")
    if result.fernet_rotated and settings.fernet_key is not None:
        print("now set HASHINSIGHT_FERNET_KEY to the value of HASHINSIGHT_NEW_FERNET_KEY")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m backend.auth.rotate`, kept for scripts; `hashinsight keys rotate-secrets` is
    the same command."""
    parser = argparse.ArgumentParser(
        prog="python -m backend.auth.rotate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pepper", action="store_true", help="rotate the API-key pepper")
    parser.add_argument("--fernet", action="store_true", help="rotate the Fernet key")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"rotate: {exc}", file=sys.stderr)
        return 2
    return run(settings, pepper=args.pepper, fernet=args.fernet)


if __name__ == "__main__":
    raise SystemExit(main())
