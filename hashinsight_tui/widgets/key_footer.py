"""The footer: key hints that fit whole, never one cut in half; the rest are in `?` help.

Textual's Footer lays every shown binding out in a row and lets the last ones run off the edge
("/ Fi"), which at 80 columns reads as a wrong key. This one keeps the hints that fit the width in
their order, `?` help first of all (it lists every key, so nothing is lost), and lays itself out
again when the terminal is resized.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"
# What a hint takes besides its key and description: the key's padding either side and the
# space after the description (Footer's default, non-compact look).
HINT_PADDING = 3
# The command palette's hint on the right: its border, padding and "^p palette".
PALETTE_WIDTH = 12


def hint_width(key_display: str, description: str) -> int:
    return cell_len(key_display) + cell_len(description) + HINT_PADDING


def fitting(hints: Iterable[tuple[str, int]], width: int, keep: str = HELP_ACTION) -> set[str]:
    """The actions whose hints fit `width` (in order, `keep` first), given (action, width)."""
    ordered = sorted(hints, key=lambda hint: hint[0] != keep)  # stable: the rest keep order
    chosen: set[str] = set()
    used = 0
    for action, need in ordered:
        if used + need > width:
            if action == keep:
                continue
            break  # never skip one to squeeze a later, lesser one in
        chosen.add(action)
        used += need
    return chosen


class KeyFooter(Footer):
    """Footer whose hints fit the terminal's width whole."""

    def __init__(self) -> None:
        super().__init__()
        self._laid_out_for = 0

    def compose(self) -> ComposeResult:
        composed = list(super().compose())
        width = self.app.size.width
        self._laid_out_for = width
        keys = [w for w in composed if isinstance(w, FooterKey)]
        palette = [w for w in keys if w.has_class("-command-palette")]
        hints = [w for w in keys if not w.has_class("-command-palette")]
        room = width - (PALETTE_WIDTH if palette else 0)
        shown = fitting(
            ((hint.action, hint_width(hint.key_display, hint.description)) for hint in hints),
            room,
        )
        for widget in composed:
            if not isinstance(widget, FooterKey) or widget in palette or widget.action in shown:
                yield widget

    def on_resize(self, _event: events.Resize) -> None:
        if self._bindings_ready and self.app.size.width != self._laid_out_for:
            self.call_after_refresh(self.recompose)
