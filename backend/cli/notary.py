"""`hashinsight notary rotate-key`: a new notary signing key from the next start.

The `notary` group itself is composed in `hashinsight_cli.main`: `notary verify` asks a backend
through the console's client, so it lives with the console's commands.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from backend.cli.errors import fail, with_settings

if TYPE_CHECKING:
    from backend.settings import Settings


@click.command("rotate-key", help="a new notary signing key from the next start (backend stopped)")
@with_settings()
def rotate_key(settings: Settings) -> int:
    return asyncio.run(_rotate(settings))


async def _rotate(settings: Settings) -> int:
    from backend.notary.rotate import rotate_notary_key
    from backend.notary.signing import NotaryKeyError

    try:
        rotation = await rotate_notary_key(settings)
    except NotaryKeyError as exc:
        return fail(exc)
    if rotation.old_address:
        print(f"old notary address: {rotation.old_address} (key kept as {rotation.kept_as})")
    print(f"new notary address: {rotation.new_address}")
    print("fund the new address on the anchor chain, then start the backend")
    return 0
