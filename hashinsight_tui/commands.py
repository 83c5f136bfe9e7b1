"""The `:` command language and the command palette's screen provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


# Words of the command line besides the screen names, in the order completion offers them.
COMMAND_WORDS = ("quit", "pause", "resume", "help", "theme")
MAX_CANDIDATES = 12


def complete_command(
    text: str,
    screens: Mapping[str, Mapping[str, tuple[str, ...]]],
    themes: Iterable[str] = (),
) -> list[str]:
    """Whole-line completions of a `:` command being typed (`fle` -> `fleet`, `fleet st` ->
    `fleet status=`, `fleet status=e` -> `fleet status=error`). `screens` maps each screen name
    to its arguments and their known values, so completion never offers what the screen ignores."""
    words = text.lstrip(":").split(" ")
    if len(words) == 1:
        head = words[0].lower()
        names = [*screens, *COMMAND_WORDS]
        return [name for name in names if name.startswith(head) and name != head][:MAX_CANDIDATES]
    head = words[0].lower()
    done = " ".join(words[:-1]) + " "
    if head == "theme":
        if len(words) != 2:
            return []
        return [done + t for t in sorted(themes) if t.startswith(words[1]) and t != words[1]][
            :MAX_CANDIDATES
        ]
    matches = [name for name in screens if name.startswith(head)]
    if head in screens:
        matches = [head]
    if len(matches) != 1:
        return []
    used = {word.partition("=")[0].lower() for word in words[1:-1]}
    return [done + c for c in complete_argument(words[-1], screens[matches[0]], used)]


def complete_argument(
    word: str, arguments: Mapping[str, tuple[str, ...]], used: Iterable[str] = ()
) -> list[str]:
    """Completions of one `key=value` word: the keys first, then the values of a chosen key."""
    key, sep, value = word.partition("=")
    if not sep:
        taken = set(used)
        return [
            f"{name}=" for name in arguments if name.startswith(key.lower()) and name not in taken
        ][:MAX_CANDIDATES]
    values = arguments.get(key.lower(), ())
    return [f"{key}={v}" for v in values if v.startswith(value) and v != value][:MAX_CANDIDATES]


def complete_filter(text: str, fields: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Completions of the `/` filter's last word, on screens whose filter knows `key=value`."""
    if not fields or not text or text.endswith(" "):
        return []
    words = text.split(" ")
    done = " ".join(words[:-1])
    done = done + " " if done else ""
    used = {word.partition("=")[0].lower() for word in words[:-1]}
    return [done + c for c in complete_argument(words[-1], fields, used)]


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
