"""A small line-rendered table: a header, rows of text, a row cursor that follows a row's key.

Textual's DataTable stores and measures every cell and repaints the lines around any cell that
changed; a screen that redraws once a second to move its ages on paid for the whole table every
second. This table keeps the rows it was given and compares each new set with the last: the
same rows in the same order repaint only the cells whose text changed (an unchanged second
costs a comparison), anything else repaints the table once. `render_line` formats only the
visible lines, with the header and cursor styles of the fleet table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hashinsight_tui.widgets.fleet_table import pad_cell, scroll_row_into_view
from hashinsight_tui.widgets.repaint import same

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]  # the row's key (what the cursor follows) and its cells
PAD = 1  # blank cells either side of each column


@dataclass(frozen=True, slots=True)
class TableColumn:
    key: str
    label: str
    width: int = 0  # at least this wide; grows to its widest cell (measured again on new rows)
    right: bool = False
    flex: bool = False  # takes the width the other columns leave (at least `width`)


@dataclass
class TableMessage(Message):
    """A message of a LineTable: its `control` is the table, so a screen with two tables can
    hear one of them with `@on(LineTable.RowSelected, "#id")`."""

    table: LineTable | None = field(default=None, kw_only=True, repr=False, compare=False)

    @property
    def control(self) -> LineTable | None:
        return self.table


def _cell(cells: Sequence[Cell], i: int) -> Cell:
    return cells[i] if i < len(cells) else ""


def cell_width(cell: Cell) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    return len(cell) if cell.isascii() else cell_len(cell)


class LineTable(ScrollView, can_focus=True):
    """Rows of cells under a header; the cursor stays on its row's key across new rows."""

    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        height: 1fr;
        overflow-x: auto;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    LineTable > .line-table--header {
        text-style: bold;
        background: $panel;
    }
    LineTable > .line-table--stripe {
        background: $surface-lighten-1 50%;
    }
    LineTable:dark > .line-table--stripe {
        background: $surface-darken-1 40%;
    }
    LineTable > .line-table--cursor {
        background: $accent 40%;
    }
    LineTable:focus > .line-table--cursor {
        background: $accent;
        color: $text;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--stripe",
        "line-table--cursor",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    @dataclass
    class HeaderClicked(TableMessage):
        key: str  # the column's key

    @dataclass
    class RowSelected(TableMessage):
        """Enter, or a click on the row under the cursor."""

        key: str  # the row's key

    @dataclass
    class CursorMoved(TableMessage):
        """The cursor is on another row (keys, a click, or its row gone from new rows): for a
        detail pane that follows the cursor."""

        key: str | None  # the row's key; None when the table has no rows

    def __init__(
        self,
        columns: Sequence[TableColumn],
        *,
        zebra_stripes: bool = True,
        sortable: bool = True,  # False: no room kept in the header for a sort mark
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.sortable = sortable
        self.zebra_stripes = zebra_stripes
        self._rows: list[Row] = []
        self._index: dict[str, int] = {}
        self._cursor_row = 0
        self.cursor_key: str | None = None
        self.sort_key: str | None = None
        self.sort_desc = False
        # Each column's widest cell (label and sort mark included) since the rows last changed
        # order, and the widths drawn.
        self._natural = self._least_widths()
        self._layout_for: tuple[int, tuple[int, ...]] = (-1, ())
        self._widths: list[int] = []
        self._styles: dict[tuple[Style, Style], Style] = {}

    # --- rows in ----------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Show `rows` (key, cells). The same keys in the same order: repaint only the cells
        that changed; otherwise repaint everything, the cursor kept on its key."""
        new: list[Row] = [(key, tuple(cells)) for key, cells in rows]
        old = self._rows
        self._rows = new
        if [key for key, _ in old] != [key for key, _ in new]:
            self._index = {key: row for row, (key, _cells) in enumerate(new)}
            self._natural = self._least_widths()  # measured again: everything is repainted
            self._grow(cells for _key, cells in new)
            self._resize()
            found = self._index.get(self.cursor_key) if self.cursor_key is not None else None
            self._set_cursor(self._cursor_row if found is None else found, scroll=found is not None)
            self.refresh()
            return
        changed: list[tuple[int, list[int]]] = []
        drawn = range(len(self.columns))
        for row, ((_key, before), (_same, after)) in enumerate(zip(old, new, strict=True)):
            if before is after:
                continue
            columns = [i for i in drawn if not same(_cell(before, i), _cell(after, i))]
            if columns:
                changed.append((row, columns))
        if not changed:
            return
        if self._grow(new[row][1] for row, _columns in changed):
            self._resize()
            self.refresh()
            return
        self._repaint_cells(changed)

    def _least_widths(self) -> list[int]:
        mark = 1 if self.sortable else 0
        return [max(column.width, cell_len(column.label) + mark) for column in self.columns]

    def _grow(self, rows: Iterable[Sequence[Cell]]) -> bool:
        """Widen the columns to their widest cell; whether any grew (every line moves)."""
        natural = self._natural
        grew = False
        for cells in rows:
            for i, cell in enumerate(cells[: len(natural)]):
                width = cell_width(cell)
                if width > natural[i]:
                    natural[i] = width
                    grew = True
        return grew

    def _resize(self) -> None:
        """The width the columns need (a flexible one at its least): wider views need no scroll."""
        width = sum(
            (column.width if column.flex else natural) + 2 * PAD
            for column, natural in zip(self.columns, self._natural, strict=True)
        )
        self.virtual_size = Size(width, len(self._rows) + 1)

    def _repaint_cells(self, changed: list[tuple[int, list[int]]]) -> None:
        """Repaint the span of each changed row that covers its changed cells, if visible."""
        top = int(self.scroll_offset.y)
        left = int(self.scroll_offset.x)
        height = self.body_height
        starts = self._column_starts()
        widths = self.column_widths()
        for row, columns in changed:
            if not top <= row < top + height:
                continue
            x0 = starts[min(columns)]
            x1 = starts[max(columns)] + widths[max(columns)] + 2 * PAD
            self.refresh(Region(x0 - left, row - top + 1, x1 - x0, 1))

    # --- the cursor -------------------------------------------------------------------------

    @property
    def body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_to(self, key: str) -> None:
        row = self._index.get(key)
        if row is not None:
            self._set_cursor(row)

    def _set_cursor(self, row: int, *, scroll: bool = True) -> None:
        old, old_key = self._cursor_row, self.cursor_key
        if not self._rows:
            self._cursor_row, self.cursor_key = 0, None
            if old_key is not None:
                self.post_message(self.CursorMoved(None, table=self))
            return
        self._cursor_row = max(0, min(row, len(self._rows) - 1))
        self.cursor_key = self._rows[self._cursor_row][0]
        if self.cursor_key != old_key:
            self.post_message(self.CursorMoved(self.cursor_key, table=self))
        if scroll:
            scroll_row_into_view(self, self._cursor_row, self.body_height)
        if old != self._cursor_row:
            self.refresh_line(old + 1)  # virtual lines: the header is line 0
            self.refresh_line(self._cursor_row + 1)

    def action_move(self, dy: int) -> None:
        self._set_cursor(self._cursor_row + dy)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self._cursor_row + direction * self.body_height)

    def action_edge(self, end: int) -> None:
        self._set_cursor(len(self._rows) - 1 if end else 0)

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.RowSelected(self.cursor_key, table=self))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self.column_at(event.x + int(self.scroll_offset.x))
            if column is not None:
                self.post_message(self.HeaderClicked(column.key, table=self))
            return
        row = int(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self._rows):
            again = row == self._cursor_row
            self._set_cursor(row, scroll=False)
            if again or event.chain >= 2:
                self.action_select()

    def column_at(self, x: int) -> TableColumn | None:
        """The column drawn at virtual x."""
        for column, start, width in zip(
            self.columns, self._column_starts(), self.column_widths(), strict=True
        ):
            if start <= x < start + width + 2 * PAD:
                return column
        return None

    # --- drawing ----------------------------------------------------------------------------

    def show_sort(self, key: str | None, descending: bool = False) -> None:
        """Mark the sorted column in the header (▲ ascending, ▼ descending)."""
        if (key, descending) != (self.sort_key, self.sort_desc):
            self.sort_key, self.sort_desc = key, descending
            self.refresh(Region(0, 0, self.size.width, 1))

    def column_widths(self) -> list[int]:
        """Each column's drawn width: its widest, the flexible one what is left of the view."""
        wanted = (self.scrollable_content_region.width, tuple(self._natural))
        if wanted != self._layout_for:
            self._layout_for = wanted
            width, natural = wanted
            widths = list(natural)
            spare = width - sum(w + 2 * PAD for w in natural)
            for i, column in enumerate(self.columns):
                if column.flex:
                    widths[i] = max(column.width, natural[i] + spare)
                    spare = 0
            self._widths = widths
        return self._widths

    def _column_starts(self) -> list[int]:
        starts, x = [], 0
        for width in self.column_widths():
            starts.append(x)
            x += width + 2 * PAD
        return starts

    def _combine(self, line: Style, cell: Style) -> Style:
        key = (line, cell)
        style = self._styles.get(key)
        if style is None:
            if len(self._styles) > 256:
                self._styles.clear()
            style = self._styles[key] = line + cell
        return style

    def render_line(self, y: int) -> Strip:
        view = self.scrollable_content_region.width
        left = int(self.scroll_offset.x)
        base = self.rich_style
        widths = self.column_widths()
        if y == 0:
            style = base + self.get_component_rich_style("line-table--header")
            segments = [
                Segment(
                    " " * PAD + pad_cell(self._label(column), width, column.right) + " " * PAD,
                    style,
                )
                for column, width in zip(self.columns, widths, strict=True)
            ]
            return self._strip(segments, style, left, view)
        row = int(self.scroll_offset.y) + y - 1
        if row >= len(self._rows):
            return Strip.blank(view, base)
        line = base
        if self.zebra_stripes and row % 2 == 0:
            line = base + self.get_component_rich_style("line-table--stripe")
        segments = []
        cells = self._rows[row][1]
        for i, (column, width) in enumerate(zip(self.columns, widths, strict=True)):
            cell = _cell(cells, i)
            segments.append(Segment(" " * PAD, line))
            if isinstance(cell, Text):
                segments.extend(self._text(cell, width, column.right, line))
            else:
                segments.append(Segment(pad_cell(cell, width, column.right), line))
            segments.append(Segment(" " * PAD, line))
        if row == self._cursor_row:  # over the cells' own colours, as a DataTable's cursor
            cursor = self.get_component_rich_style("line-table--cursor")
            line = base + cursor
            segments = [Segment(s.text, self._combine(s.style or base, cursor)) for s in segments]
        return self._strip(segments, line, left, view)

    def _label(self, column: TableColumn) -> str:
        if column.key != self.sort_key:
            return column.label
        return ("▼" if self.sort_desc else "▲") + column.label

    def _text(self, text: Text, width: int, right: bool, line: Style) -> list[Segment]:
        """A rich Text cell cut or padded to `width`, its styles over the line's."""
        shown = text.copy()
        shown.truncate(width, overflow="ellipsis")
        gap = width - shown.cell_len
        if gap > 0 and right:
            shown.pad_left(gap)
        elif gap > 0:
            shown.pad_right(gap)
        console = self.app.console
        if shown.style:  # `render` leaves the text's own style to its caller
            line = self._combine(line, console.get_style(shown.style, default=Style.null()))
        return [
            Segment(segment.text, self._combine(line, segment.style) if segment.style else line)
            for segment in shown.render(console, end="")
        ]

    @staticmethod
    def _strip(segments: list[Segment], style: Style, left: int, view: int) -> Strip:
        used = sum(segment.cell_length for segment in segments)
        if used < left + view:
            segments.append(Segment(" " * (left + view - used), style))
        return Strip(segments, max(used, left + view)).crop(left, left + view)
