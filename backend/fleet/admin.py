"""`hashinsight fleet ...`: import site/rack/position labels from a CSV, scan for miners.

Both work on the local database directly (like `hashinsight keys`); a running backend picks
imported and discovered miners up at its next start.
"""

from __future__ import annotations

import sys
from pathlib import Path

from backend.core.clock import SYSTEM_CLOCK
from backend.core.db import Database
from backend.core.settings import Settings
from backend.fleet.inventory import ScanReject, read_label_csv, scan
from backend.fleet.poller import raise_fd_limit
from backend.fleet.store import FleetStore


async def import_csv(settings: Settings, path: Path) -> int:
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


async def scan_network(settings: Settings, targets: list[str], port: int, add: bool) -> int:
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
