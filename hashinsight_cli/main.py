"""The root `hashinsight` group, put together from the server's and the console's commands, and
`demo`, which needs both."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from backend.cli.collector import collector
from backend.cli.config import config
from backend.cli.db import db
from backend.cli.errors import EXIT_INTERRUPTED, with_settings
from backend.cli.fleet import fleet
from backend.cli.group import OrderedGroup
from backend.cli.keys import keys
from backend.cli.notary import rotate_key
from backend.cli.serve import serve, serve_backend
from backend.cli.signer import signer
from backend.cli.sim import sim
from backend.sim.demo_world import DemoWorld
from hashinsight_tui.cli_commands import console, need_terminal, notary_verify, run_console
from hashinsight_tui.cli_commands import screenshots as screenshots_command

if TYPE_CHECKING:
    from backend.settings import Settings


@click.group(
    "hashinsight",
    cls=OrderedGroup,
    invoke_without_command=True,
    help="HashInsight: operator console and backend for Bitcoin mining sites.",
)
@click.pass_context
def root(ctx: click.Context) -> int | None:
    """No command opens the console."""
    if ctx.invoked_subcommand is None:
        return ctx.invoke(console)
    return None


@click.command("demo", help="the whole product offline, against local simulators")
@click.option("--headless", is_flag=True, help="no console: print URL and key")
@click.option("--port", type=int, default=0, help="API port (default: any free port)")
@click.option("--screen", default="health", help="screen to open first")
@with_settings()
def demo(settings: Settings, headless: bool, port: int, screen: str) -> int:
    from hashinsight_tui.launcher import demo_settings, remove_demo_dir, start_embedded

    if not headless:
        need_terminal()
    demo_run = demo_settings(settings, port)
    try:
        if not headless:
            return run_console(
                demo_run, start_embedded(demo_run, mode="demo", world=DemoWorld()), screen
            )
        return asyncio.run(serve_backend(demo_run, mode="demo", world=DemoWorld()))
    finally:
        remove_demo_dir(demo_run)


@click.group("notary", cls=OrderedGroup, help="notarized reports")
def notary() -> None:
    """`verify` reads through the console's client, `rotate-key` works on the local files."""


notary.add_command(notary_verify)
notary.add_command(rotate_key)

for command in (
    console,
    serve,
    collector,
    demo,
    config,
    db,
    keys,
    screenshots_command,
    notary,
    fleet,
    sim,
    signer,
):
    root.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `hashinsight ARGV` and return its exit code; a malformed command line prints the usage
    and raises SystemExit(2)."""
    try:
        code = root.main(
            args=list(argv) if argv is not None else None,
            prog_name="hashinsight",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.Abort as exc:  # Ctrl+C or end of input outside a command's own handling
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        print("hashinsight: aborted", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
