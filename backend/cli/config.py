"""`hashinsight config show`: the effective settings, secrets masked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from backend.cli.errors import with_settings
from backend.cli.group import OrderedGroup

if TYPE_CHECKING:
    from backend.settings import Settings


@click.group("config", cls=OrderedGroup, help="settings")
def config() -> None:
    pass


@config.command("show", help="print the effective settings, secrets masked")
@with_settings(dirs=False)
def show(settings: Settings) -> int:
    print(json.dumps(settings.masked(), indent=2, sort_keys=True, default=str, ensure_ascii=False))
    return 0
