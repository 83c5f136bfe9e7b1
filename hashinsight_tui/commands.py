"""The `:` command language and the command palette's screen provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from hashinsight_tui.app import HashInsightApp

SIMPLE_COMMANDS = {
    "q": "quit",
    "quit": "quit",
    "exit": "quit",
    "pause": "pause",
    "resume": "resume",
    "help": "help",
    "?": "help",
}


@dataclass(frozen=True)
class Command:
    name: str  # go | quit | pause | resume | theme | help
    target: str = ""
    arguments: dict[str, str] = field(default_factory=dict)


def parse_command(text: str, screens: list[str]) -> Command:
    """Parse `fleet status=offline`, `theme nord`, `quit`...; raise ValueError with a hint."""
    words = text.strip().lstrip(":").split()
    if not words:
        raise ValueError("empty command; try :health, :fleet status=offline or :quit")
    head, rest = words[0].lower(), words[1:]
    if head in SIMPLE_COMMANDS:
        return Command(SIMPLE_COMMANDS[head])
    if head == "theme":
        if len(rest) != 1:
            raise ValueError("usage: :theme NAME")
        return Command("theme", rest[0])
    matches = [name for name in screens if name.startswith(head)]
    if head in screens:
        matches = [head]
    if len(matches) != 1:
        hint = f"ambiguous: {', '.join(matches)}" if matches else f"screens: {', '.join(screens)}"
        raise ValueError(f"unknown command {head!r} ({hint})")
    arguments: dict[str, str] = {}
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep or not key:
            arguments["q"] = (arguments.get("q", "") + " " + word).strip()
        else:
            arguments[key.lower()] = value
    return Command("go", matches[0], arguments)


class ScreensProvider(Provider):
    """Every screen of the console, reachable from the command palette."""

    def _entries(self) -> list[tuple[str, str, str]]:
        from hashinsight_tui.app import SCREENS

        return [(f"Go to {title}", name, f"key {key}") for name, title, key, _ in SCREENS]

    async def discover(self) -> Hits:
        app: HashInsightApp = self.app  # type: ignore[assignment]
        for label, name, help_text in self._entries():
            yield DiscoveryHit(label, partial(app.action_go, name), help=help_text)

    async def search(self, query: str) -> Hits:
        app: HashInsightApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for label, name, help_text in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(label), partial(app.action_go, name), help=help_text
                )
