"""Formatting helpers shared by screens: ages, latencies, statuses."""

from __future__ import annotations

import time

from rich.text import Text

STATUS_COLOURS = {
    "ok": "green",
    "degraded": "yellow",
    "down": "red",
    "unknown": "dim",
    "disabled": "dim",
}


def age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def since(timestamp: float | None) -> str:
    return "never" if timestamp is None else age(time.time() - timestamp) + " ago"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_COLOURS.get(status, "white"))


def latency(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:.1f} ms"
