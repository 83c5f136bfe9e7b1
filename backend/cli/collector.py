"""`hashinsight collector`: poll one shard of the fleet into the shared database, no API."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from backend.cli.errors import one_of, with_settings
from backend.cli.serve import serve_backend
from backend.settings import SettingsError

if TYPE_CHECKING:
    from backend.settings import Settings


@click.command(
    "collector",
    help="poll one shard of the fleet into the shared database (no API)\n\n"
    "Give one of --shard and --site.",
)
@click.option("--shard", metavar="I/N", help="shard I of N (by a hash of the miner id)")
@click.option("--site", metavar="NAME", help="the miners labelled with this site")
@click.option(
    "--adopt-stale",
    is_flag=True,
    help="also poll shards of the same split whose collector stopped (via their lease)",
)
@click.option(
    "--adopt-after",
    type=float,
    default=None,
    metavar="SECONDS",
    help="how old a shard's heartbeat must be to adopt it (default: 2x the stale age)",
)
@one_of("shard", "site")
@with_settings()
def collector(
    settings: Settings,
    shard: str | None,
    site: str | None,
    adopt_stale: bool,
    adopt_after: float | None,
) -> int:
    from backend.fleet.shard import FleetRole, parse_shard, site_shard

    try:
        part = site_shard(site) if site is not None else parse_shard(shard or "")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if adopt_after is not None and adopt_after <= 0:
        raise SettingsError("--adopt-after must be a positive number of seconds")
    role = FleetRole(shard=part, adopt=adopt_stale, adopt_after_s=adopt_after)
    return asyncio.run(serve_backend(settings, "collector", role))
