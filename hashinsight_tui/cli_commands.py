"""The console's side of the `hashinsight` command: what opens Textual or talks to a backend
through the console's client (`console`, `screenshots`, `notary verify`).

Imports of Textual stay inside the commands, so `hashinsight serve --help` never loads it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend.cli.errors import with_settings
from backend.settings import SettingsError

if TYPE_CHECKING:
    from backend.settings import Settings
    from hashinsight_tui.launcher import Target


@click.command("console", help="open the console (the default command)")
@click.option("--url", help="URL of a running backend to attach to")
@click.option("--screen", default="health", help="screen to open first")
@with_settings()
def console(settings: Settings, url: str | None, screen: str) -> int:
    from hashinsight_tui.launcher import check_console_settings, resolve_target

    check_console_settings(settings)
    need_terminal()
    return run_console(settings, resolve_target(settings, url), screen or "health")


@click.command("screenshots", help="write an SVG of every screen from a demo run")
@click.option("--out", type=click.Path(path_type=Path), default=Path("screenshots"))
@with_settings()
def screenshots(settings: Settings, out: Path) -> int:
    from hashinsight_tui.screenshots import write_screenshots

    for path in asyncio.run(write_screenshots(settings, out)):
        print(path)
    return 0


@click.command("verify", help="verify a notarization, step by step")
@click.argument("notarization_id", type=int, metavar="ID")
@click.option("--url", help="URL of a running backend to ask")
@with_settings()
def notary_verify(settings: Settings, notarization_id: int, url: str | None) -> int:
    from hashinsight_tui.widgets.notary_checks import verify_command

    return verify_command(settings, notarization_id, url)


def run_console(settings: Settings, target: Target, screen: str) -> int:
    """Run the console against `target` until it quits; stop an embedded backend afterwards."""
    from backend.core.logging import setup_logging
    from hashinsight_tui.app import HashInsightApp
    from hashinsight_tui.launcher import console_options, log_file

    setup_logging(settings.log_level, log_file(settings), to_stderr=False)
    app = HashInsightApp(console_options(settings, target, screen))
    try:
        app.run()
    finally:
        if target.embedded is not None:
            target.embedded.stop()
    return app.return_code or 0


def need_terminal() -> None:
    """The console draws on a terminal and reads its keys: without one it would spin on end of
    input and ignore signals, so refuse at once (scripts use the API or `serve`)."""
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        if stream is None or not stream.isatty():
            raise SettingsError(
                f"console: standard {name} is not a terminal; run it in a terminal "
                "(scripts: use the API, or `hashinsight serve` / `demo --headless`)"
            )
