"""`hashinsight fleet`: miner inventory (CSV labels, network scan, control credentials);
`backend/fleet/admin.py` does the work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend.cli.errors import one_of, with_settings
from backend.cli.group import OrderedGroup

if TYPE_CHECKING:
    from backend.settings import Settings

CREDENTIAL_KINDS = ("web", "luxos", "whatsminer", "braiins", "vnish")
ONE_PLACE = "Give one of --site and --miner."


@click.group(
    "fleet",
    cls=OrderedGroup,
    help="miner inventory: import labels, discover miners, control credentials",
)
def fleet() -> None:
    pass


@fleet.command(
    "import-csv",
    help="site/rack/position labels from a CSV\n\nFILE: columns: address,site,rack,position[,name]",
)
@click.argument("file", type=click.Path(path_type=Path))
@with_settings()
def import_csv(settings: Settings, file: Path) -> int:
    from backend.fleet import admin

    return asyncio.run(admin.import_csv(settings, file))


@fleet.command(
    "scan",
    help="find CGMiner APIs in address ranges\n\nCIDR: e.g. 10.0.1.0/24 10.0.2.7",
)
@click.argument("targets", nargs=-1, required=True, metavar="CIDR...")
@click.option("--port", type=int, default=4028, help="API port (default 4028)")
@click.option("--add", is_flag=True, help="add what answers to the inventory")
@with_settings()
def scan(settings: Settings, targets: tuple[str, ...], port: int, add: bool) -> int:
    from backend.fleet import admin

    return asyncio.run(admin.scan_network(settings, list(targets), port, add))


@fleet.group("credentials", help="control credentials per site or miner")
def credentials() -> None:
    pass


def _where(command: Callable[..., int]) -> Callable[..., int]:
    """--site or --miner (exactly one) and --kind: which stored credentials a command means."""
    command = one_of("site", "miner")(command)
    for option in reversed(
        (
            click.option("--site", help="every miner of this site"),
            click.option("--miner", help="one miner (its id)"),
            click.option("--kind", required=True, type=click.Choice(CREDENTIAL_KINDS)),
        )
    ):
        command = option(command)
    return command


@credentials.command("set", help=f"store (the password is asked for, or stdin)\n\n{ONE_PLACE}")
@_where
@click.option("--user", help="login name (web: root by default)")
@click.option("--port", type=int, help="the access's port (web: 80 by default)")
@click.option("--no-password", is_flag=True, help="store only the user and/or port")
@with_settings()
def credentials_set(
    settings: Settings,
    site: str | None,
    miner: str | None,
    kind: str,
    user: str | None,
    port: int | None,
    no_password: bool,
) -> int:
    from backend.fleet import admin

    scope, target = _scope(site, miner)
    password = None if no_password else admin.read_password()
    return asyncio.run(
        admin.credentials_set(
            settings,
            scope=scope,
            target=target,
            kind=kind,
            user=user,
            port=port,
            password=password,
        )
    )


@credentials.command("remove", help=f"remove; the factory default applies\n\n{ONE_PLACE}")
@_where
@with_settings()
def credentials_remove(settings: Settings, site: str | None, miner: str | None, kind: str) -> int:
    from backend.fleet import admin

    scope, target = _scope(site, miner)
    return asyncio.run(admin.credentials_remove(settings, scope=scope, target=target, kind=kind))


@credentials.command("list", help="stored credentials, masked, and the defaults")
@with_settings()
def credentials_list(settings: Settings) -> int:
    from backend.fleet import admin

    return asyncio.run(admin.credentials_list(settings))


def _scope(site: str | None, miner: str | None) -> tuple[str, str]:
    """`one_of` has made sure exactly one of them is given."""
    return ("site", site) if site is not None else ("miner", miner or "")
