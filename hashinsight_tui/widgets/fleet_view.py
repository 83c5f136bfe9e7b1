"""What the fleet table and the fleet grid share: one miner under the cursor, the same keys to
move it, the same messages, and a repaint that resolves its styles once and times itself.

Both are line-rendered ScrollViews over one FleetModel (Textual's DataTable is too slow for
10,000 rows); each subclass says how the cursor moves and how a line is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hashinsight_tui.fleet_model import FleetModel

FrameT = TypeVar("FrameT")


class FleetView(ScrollView, Generic[FrameT], can_focus=True):
    """A focusable view of a FleetModel whose cursor is a miner id."""

    DEFAULT_CSS = """
    FleetView {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(0,-1)", "Up", show=False),
        Binding("down", "move(0,1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    @dataclass
    class CursorMoved(Message):
        """The cursor is on another miner (None: no miner is shown)."""

        miner_id: str | None

    @dataclass
    class Activated(Message):
        """Enter or a double click on a miner: drill down into it."""

        miner_id: str

    def __init__(self, model: FleetModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.cursor_id: str | None = None
        self.last_render_s = 0.0  # time spent formatting the last repaint's lines
        self.clock: Callable[[], float] = time.time  # the time ages are drawn at
        self._frame: FrameT | None = None

    # --- cursor (subclasses know their geometry) ------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        raise NotImplementedError

    def action_page(self, direction: int) -> None:
        raise NotImplementedError

    def action_edge(self, end: int) -> None:
        raise NotImplementedError

    def move_to(self, miner_id: str) -> None:
        raise NotImplementedError

    def cursor_changed(self, old: str | None) -> None:
        """Tell the screen when the cursor landed on another miner."""
        if self.cursor_id != old:
            self.post_message(self.CursorMoved(self.cursor_id))

    # --- drawing ----------------------------------------------------------------------------

    def render_lines(self, crop: Any) -> list[Strip]:
        started = time.perf_counter()
        self._frame = self._make_frame()
        try:
            lines = super().render_lines(crop)
        finally:
            self._frame = None
        self.last_render_s = time.perf_counter() - started
        return lines

    def frame(self) -> FrameT:
        """The styles of the repaint in progress (or fresh ones for a lone line)."""
        return self._frame if self._frame is not None else self._make_frame()

    def _make_frame(self) -> FrameT:
        """Everything a line needs that costs a style lookup: computed once per repaint."""
        raise NotImplementedError
