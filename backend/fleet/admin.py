"""`hashinsight fleet ...`: import labels from a CSV, scan for miners, control credentials.

All work on the local database directly (like `hashinsight keys`); a running backend picks
imported and discovered miners up at its next start, and credentials within seconds.
Passwords are read from a prompt (or stdin when it is not a terminal), never from the command
line, and never printed.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TextIO

from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database
from backend.fleet.credentials import FACTORY_DEFAULTS, CredentialError, CredentialStore
from backend.fleet.inventory import ScanReject, read_label_csv, scan
from backend.fleet.poller import raise_fd_limit
from backend.fleet.settings import FleetSettings
from backend.fleet.store import FleetStore
from hashinsight_contract.fleet import CredentialOut


async def import_csv(settings: FleetSettings, path: Path) -> int:
    """Exit status: 0 imported, 2 for a bad file (nothing imported, the line is named)."""
    try:
        rows = read_label_csv(path)
    except ValueError as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return 2
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        added, updated = await FleetStore(db).import_labels(
            rows, actor="cli", now=SYSTEM_CLOCK.now()
        )
    finally:
        await db.close()
    print(f"imported {len(rows)} rows: {added} miners added, {updated} relabelled")
    return 0


async def scan_network(settings: FleetSettings, targets: list[str], port: int, add: bool) -> int:
    raise_fd_limit(settings.fleet_scan_concurrency + 256)
    rejects: list[ScanReject] = []
    try:
        hits = await scan(
            targets,
            port=port,
            concurrency=settings.fleet_scan_concurrency,
            timeout_s=settings.fleet_scan_timeout_s,
            rejects=rejects,
        )
    except ValueError as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return 2
    for hit in hits:
        print(f"{hit.address:<24} {hit.family:<11} {hit.model or '-':<22} {hit.firmware or '-'}")
    for reject in rejects:  # not miners (never added), but something answers there
        print(f"{reject.address:<24} not a miner: {reject.reason}", file=sys.stderr)
    print(f"{len(hits)} miners answered", file=sys.stderr)
    if add and hits:
        db = Database(settings.effective_database_url)
        try:
            await db.upgrade()
            count = await FleetStore(db).add_scanned(hits, actor="cli", now=SYSTEM_CLOCK.now())
        finally:
            await db.close()
        print(f"{count} new miners added to the inventory", file=sys.stderr)
    return 0


def read_password(stdin: TextIO | None = None) -> str:
    """From a hidden prompt on a terminal, else the first line of stdin (scripts)."""
    stream = stdin or sys.stdin
    if stream.isatty():
        return getpass.getpass("password: ")
    return stream.readline().rstrip("\r\n")


async def credentials_set(
    settings: FleetSettings,
    *,
    scope: str,
    target: str,
    kind: str,
    user: str | None,
    port: int | None,
    password: str | None,
) -> int:
    """Exit status: 0 stored, 2 for a refused value (the reason on stderr, never the password)."""
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        view = await CredentialStore(db, settings=settings).set(
            scope=scope,
            target=target,
            kind=kind,
            username=user,
            password=password or None,
            port=port,
            actor="cli",
            now=SYSTEM_CLOCK.now(),
        )
    except CredentialError as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.close()
    print(f"stored {kind} credentials for {scope} {target}: {_line(view)}")
    return 0


async def credentials_list(settings: FleetSettings) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        views = await CredentialStore(db, settings=settings).list()
    finally:
        await db.close()
    for view in views:
        print(f"{view.scope:<6} {view.target:<28} {view.kind:<10} {_line(view)}")
    for kind, (user, password) in FACTORY_DEFAULTS.items():
        secret = "factory password" if password else "no password"
        print(f"{'-':<6} {'(default)':<28} {kind:<10} user={user or '-'} {secret}")
    return 0


async def credentials_remove(settings: FleetSettings, *, scope: str, target: str, kind: str) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        removed = await CredentialStore(db, settings=settings).remove(
            scope=scope, target=target, kind=kind, actor="cli"
        )
    except CredentialError as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.close()
    if not removed:
        print(f"hashinsight: no {kind} credentials stored for {scope} {target}", file=sys.stderr)
        return 1
    print(f"removed {kind} credentials for {scope} {target} (the factory default applies)")
    return 0


def _line(view: CredentialOut) -> str:
    port = f" port={view.port}" if view.port else ""
    return f"user={view.user or '-'} password={view.password or '-'}{port}"
