"""The click group every `hashinsight` command family uses."""

from __future__ import annotations

from typing import Any

import click

# `-h` as well as `--help`, as the command has always accepted.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


class OrderedGroup(click.Group):
    """Lists its commands in the order they were added, each with the whole first paragraph of
    its help (click would sort them and cut long lines short)."""

    group_class = type  # subgroups made with @group.group() are OrderedGroups too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, (command.short_help or command.help or "").split("\n\n")[0])
            for name, command in self.commands.items()
            if not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
