"""Repaint only what changed: the console redraws its screen every second, mostly unchanged.

A Static updated with the same text would still be laid out and repainted, and the compositor
repaints everything under it; `show` skips that, and lays out only a widget whose size can
follow its text.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.visual import visualize
from textual.widgets import Static


def same(old: Any, new: Any) -> bool:
    """Whether two cell or line values look the same (rich's Text equality ignores style)."""
    if isinstance(old, Text) and isinstance(new, Text):
        return (
            old.plain == new.plain
            and old.style == new.style
            and old.spans == new.spans
            and old.justify == new.justify
            and old.overflow == new.overflow
            and old.no_wrap == new.no_wrap
        )
    return type(old) is type(new) and old == new


def same_size(widget: Static, content: Text | str) -> bool:
    """Whether showing `content` keeps the widget's size: its width does not follow the text,
    and its height is fixed or comes out the same at the widget's width (wrapped as drawn)."""
    height, width = widget.styles.height, widget.styles.width
    if width is not None and width.is_auto:
        return False
    if height is not None and height.is_cells:
        return True
    inner = widget.content_size.width
    if inner <= 0:
        return False
    new = visualize(widget, content, markup=isinstance(content, str))
    return new.get_height(widget.styles, inner) == widget.visual.get_height(widget.styles, inner)


def show(widget: Static, content: Text | str) -> None:
    """`widget.update(content)`, unless it already shows exactly that; laid out again only
    when the new text can change the widget's size."""
    if not same(widget.content, content):
        widget.update(content, layout=not same_size(widget, content))
