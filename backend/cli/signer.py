"""`hashinsight signer`: the ndau signing service (it dials the issuer)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend.cli.errors import with_settings

if TYPE_CHECKING:
    from backend.settings import Settings


@click.command("signer", help="run the ndau signing service (dials the issuer)")
@click.option(
    "-c",
    "--config",
    type=click.Path(path_type=Path),
    required=True,
    help="path of signer.toml",
)
@with_settings(dirs=False)
def signer(settings: Settings, config: Path) -> int:
    from backend.signer.main import run

    return run(config, log_level=settings.log_level)
