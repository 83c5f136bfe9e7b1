"""The fleet table: a line-rendered ScrollView that draws only the visible rows of a FleetModel.

Textual's DataTable measures and stores every cell, which takes seconds at thousands of rows; this
widget keeps no rows of its own: `render_line` formats the one miner a screen line shows, so a
repaint costs the same with 20 or 20,000 miners. The columns that fit the width are chosen by
priority: status, miner, TH/s, chip temperature, age and the error (why a miner is down) always,
then the sorted column, then the rest; the error text takes the spare width and gives some up
for an essential column at 80 columns. The columns left out are one `→` away: each further page
of columns keeps status and miner on the left. A row older than two poll intervals is drawn dim
with its age marked, so an old reading is never mistaken for the miner's state now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hashinsight_tui.fleet_model import (
    PROBLEM_TEXT,
    FleetModel,
    Miner,
    fan_min,
    hashrate_pct,
    problem,
    shown_status,
)
from hashinsight_tui.format import DASH, age
from hashinsight_tui.widgets.fleet_view import FleetView

STATUS_STYLE: dict[str, Style] = {
    "online": Style(color="green"),
    "offline": Style(color="red", bold=True),
    "error": Style(color="magenta", bold=True),
    "sleeping": Style(color="blue"),
    "no hash": Style(color="red", bold=True),
    "no pool": Style(color="red", bold=True),
}
RED = Style(color="red")
YELLOW = Style(color="yellow")
GREEN = Style(color="green")
DIM = Style(dim=True)
Cell = tuple[str, Style | None]
MAKERS = ("antminer ", "whatsminer ", "avalon ", "bitmain ", "microbt ")


# --- text for values: one place, shared by the summary bar and the detail screen -----------------


def fmt_num(value: float | int | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}{unit}"


def fmt_hashrate(ths: float | None) -> str:
    if ths is None:
        return DASH
    if abs(ths) >= 1000:
        return f"{ths / 1000:,.2f} PH/s"
    return f"{ths:,.1f} TH/s"


def fmt_power(watts: float | None) -> str:
    if watts is None:
        return DASH
    if abs(watts) >= 1_000_000:
        return f"{watts / 1_000_000:,.2f} MW"
    if abs(watts) >= 1000:
        return f"{watts / 1000:,.1f} kW"
    return f"{watts:,.0f} W"


def fmt_usd(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return DASH
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}${abs(value):,.2f}"


def temp_style(celsius: float | None) -> Style | None:
    if celsius is None:
        return DIM
    if celsius >= 90:
        return RED
    if celsius >= 80:
        return YELLOW
    return None


def location_text(miner: Miner) -> str:
    parts = [miner.get("site"), miner.get("rack"), miner.get("position")]
    return "/".join(str(p) for p in parts if p is not None) or DASH


# --- columns -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the model's sort key
    label: str
    width: int
    priority: int  # lower survives longer when the terminal is narrow
    cell: Callable[[Miner], Cell]
    right: bool = False
    flex: bool = False  # takes the width no other column uses
    min_width: int = 0  # how narrow a flexible column may get to make room for an essential one


STATUS_WORDS = {"sleeping": "asleep"}  # one width for every word the column shows


def _status(m: Miner) -> Cell:
    status = shown_status(m) or DASH
    return f"● {STATUS_WORDS.get(status, status)}", STATUS_STYLE.get(status, DIM)


def _pct(m: Miner) -> Cell:
    pct = hashrate_pct(m)
    if pct is None:
        return DASH, DIM
    return f"{pct:.0f}%", RED if pct < 50 else YELLOW if pct < 90 else None


def _plain(key: str, digits: int = 1) -> Callable[[Miner], Cell]:
    def cell(m: Miner) -> Cell:
        value = m.get(key)
        return (DASH, DIM) if value is None else (f"{value:,.{digits}f}", None)

    return cell


def _temp(key: str) -> Callable[[Miner], Cell]:
    def cell(m: Miner) -> Cell:
        value = m.get(key)
        return (DASH if value is None else f"{value:.0f}", temp_style(value))

    return cell


def _text(key: str) -> Callable[[Miner], Cell]:
    def cell(m: Miner) -> Cell:
        value = m.get(key)
        return (DASH, DIM) if value is None else (str(value), None)

    return cell


def model_short(model: str | None) -> str | None:
    """'Whatsminer M31SV10' -> 'M31SV10': the maker is plain from the model; the detail view and
    the cursor line show the full name."""
    if model is None:
        return None
    for maker in MAKERS:
        if model.lower().startswith(maker):
            return model[len(maker) :].strip() or model
    return model


def _model(m: Miner) -> Cell:
    value = model_short(m.get("model"))
    return (DASH, DIM) if value is None else (value, None)


def _profit(m: Miner) -> Cell:
    value = m.get("profit_usd_day")
    if value is None:
        return DASH, DIM
    return fmt_usd(value), RED if value < 0 else GREEN


def _alerts(m: Miner) -> Cell:
    count = m.get("open_alerts")
    if not count:
        return ("0", DIM) if count == 0 else (DASH, DIM)
    return str(count), Style(color="yellow", bold=True)


def _fan(m: Miner) -> Cell:
    rpm = fan_min(m)
    return (DASH, DIM) if rpm is None else (f"{rpm:,}", RED if rpm == 0 else None)


def _uptime(m: Miner) -> Cell:
    value = m.get("uptime_s")
    return age(value), DIM if value is None else None


def _error(m: Miner) -> Cell:
    value = m.get("error") or PROBLEM_TEXT.get(problem(m) or "")
    return ("", None) if not value else (str(value), RED)


def _age(_m: Miner) -> Cell:
    """Drawn by the table from the model's stamps (a row does not know the sweep's time)."""
    return DASH, DIM


# Priority: lower survives longer when the terminal is narrow; up to ESSENTIAL always fits 80.
ESSENTIAL = 1
COLUMNS: tuple[Column, ...] = (
    Column("status", "Status", 9, 0, _status),
    Column("id", "Miner", 17, 0, _text("id")),
    Column("location", "Location", 13, 4, lambda m: (location_text(m), None)),
    Column("model", "Model", 11, 4, _model),
    Column("hashrate_ths", "TH/s", 6, 1, _plain("hashrate_ths"), right=True),
    Column("hashrate_pct", "%exp", 4, 2, _pct, right=True),
    Column("power_w", "Watts", 5, 3, _plain("power_w", 0), right=True),
    Column("efficiency_jth", "J/TH", 5, 6, _plain("efficiency_jth"), right=True),
    Column("temp_chip_max_c", "Chip°", 5, 1, _temp("temp_chip_max_c"), right=True),
    Column("temp_board_max_c", "Brd°", 4, 8, _temp("temp_board_max_c"), right=True),
    Column("temp_inlet_c", "In°", 4, 8, _temp("temp_inlet_c"), right=True),
    Column("fan_min_rpm", "Fan", 6, 7, _fan, right=True),
    Column("uptime_s", "Up", 5, 7, _uptime, right=True),
    Column("profit_usd_day", "$/day", 8, 5, _profit, right=True),
    Column("open_alerts", "Alr", 3, 5, _alerts, right=True),
    Column("age", "Age", 4, 1, _age, right=True),
    Column("firmware", "Firmware", 14, 9, _text("firmware")),
    Column("error", "Error", 18, 1, _error, flex=True, min_width=12),
)
COLUMN_KEYS = tuple(column.key for column in COLUMNS)
# Kept on the left of every page of columns: which miner a row is and how it is.
FROZEN = frozenset({"status", "id"})
MARK_WIDTH = 2  # selection mark before the first column
MARK_STYLE = Style(color="cyan", bold=True)
STALE_STYLE = Style(dim=True, italic=True)


def fit_columns(width: int, sort_key: str | None = None) -> list[Column]:
    """The columns that fit `width`, kept by priority, shown in their declared order."""
    return [column for column, _width in fit_widths(width, sort_key)]


def fit_widths(
    width: int, sort_key: str | None = None, columns: Iterable[Column] = COLUMNS
) -> list[tuple[Column, int]]:
    """`fit_columns` with each column's drawn width: the essential columns first, then the
    sorted one, then by priority. The flexible column takes what is left, and gives up width
    (down to its minimum) when an essential or the sorted column would not fit otherwise."""
    offered = list(columns)
    chosen: set[str] = set()
    used = MARK_WIDTH
    flex_room = 0  # how much the chosen flexible column can still give up
    shrunk = 0
    ranked = sorted(offered, key=lambda c: (c.priority > ESSENTIAL, c.key != sort_key, c.priority))
    for column in ranked:
        need = column.width + 1
        over = used + need - width
        if over > 0:
            if (column.priority > ESSENTIAL and column.key != sort_key) or over > flex_room:
                continue
            flex_room -= over
            shrunk += over
            used -= over
        chosen.add(column.key)
        used += need
        if column.flex:
            flex_room += max(0, column.width - column.min_width)
    spare = max(0, width - used)
    return [
        (column, column.width + (spare - shrunk if column.flex else 0))
        for column in offered
        if column.key in chosen
    ]


def column_pages(width: int, sort_key: str | None = None) -> list[list[tuple[Column, int]]]:
    """Every column, page by page: the first page is `fit_widths`, each further page holds the
    frozen columns and as many of the ones not shown yet as fit, by priority."""
    pages = [fit_widths(width, sort_key)]
    shown = {column.key for column, _width in pages[0]}
    frozen = [column for column in COLUMNS if column.key in FROZEN]
    while len(shown) < len(COLUMNS):
        rest = [c for c in COLUMNS if c.key not in shown]
        page = fit_widths(width, sort_key, [c for c in COLUMNS if c in frozen or c in rest])
        new = {column.key for column, _width in page} - shown
        if not new:
            break  # a column wider than the terminal: it stays out
        pages.append(page)
        shown |= new
    return pages


def age_text(seconds: float | None, stale: bool) -> str:
    """The Age cell: `7s`, or `25s!` once the row is stale."""
    return age(seconds) + ("!" if stale else "")


def pad_cell(text: str, width: int, right: bool) -> str:
    if (len(text) if text.isascii() else cell_len(text)) > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else text[:width]
    return text.rjust(width) if right else text.ljust(width)


def scroll_row_into_view(view: ScrollView, row: int, height: int) -> None:
    """Scroll a line-rendered table (header on line 0) just enough that `row` is on screen."""
    top = int(view.scroll_offset.y)
    if row < top:
        view.scroll_to(y=row, animate=False, immediate=True)
    elif row >= top + height:
        view.scroll_to(y=row - height + 1, animate=False, immediate=True)


class FleetTable(FleetView["_Frame"]):
    """Rows of a FleetModel; the cursor follows a miner id across re-sorts."""

    DEFAULT_CSS = """
    FleetTable > .fleet-table--header {
        text-style: bold;
        background: $panel;
    }
    FleetTable > .fleet-table--cursor {
        background: $accent 40%;
    }
    FleetTable:focus > .fleet-table--cursor {
        background: $accent;
        color: $text;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"fleet-table--header", "fleet-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1,0)", "Columns left", show=False),
        Binding("right", "move(1,0)", "More columns", show=False),
    ]

    @dataclass
    class HeaderClicked(Message):
        key: str

    @dataclass
    class ColumnsMoved(Message):
        """Another page of columns is shown (`page` of `pages`, from 0)."""

        page: int
        pages: int

    def __init__(self, model: FleetModel, *, id: str | None = None) -> None:
        super().__init__(model, id=id)
        self._cursor_row = 0
        self._version = -1
        self.column_page = 0  # which page of columns is shown (`→` shows the ones left out)
        self._pages: list[list[tuple[Column, int]]] = []
        self._columns_for: tuple[int, str] = (-1, "")
        # What each body line last drew of the clock: line -> (row, miner, Age text, stale).
        self._drawn_ages: dict[int, tuple[int, str, str, bool]] = {}

    # --- model -> screen ------------------------------------------------------------------

    @property
    def body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    def sync(self, changed: Iterable[str] = ()) -> None:
        """Follow the model: reorder/resize if its order changed, else repaint changed rows."""
        model = self.model
        if model.version != self._version:
            self._version = model.version
            self.virtual_size = Size(self.virtual_size.width, len(model.order) + 1)
            row = model.index.get(self.cursor_id) if self.cursor_id is not None else None
            self._set_cursor(self._cursor_row if row is None else row, scroll=row is not None)
            self.refresh()
            return
        top = int(self.scroll_offset.y)
        order = model.order
        for row in range(top, min(len(order), top + self.body_height)):
            if order[row] in changed:
                self.refresh_line(row + 1)  # virtual y: the header is line 0

    def tick(self, now: float | None = None) -> None:
        """Repaint what the passing of time changed, nothing else: the Age cells whose text
        moved on, and the whole line of a row that just went stale (its style changes)."""
        now = self.clock() if now is None else now
        model = self.model
        order = model.order
        top = int(self.scroll_offset.y)
        ages: list[int] = []
        for line, (row, miner_id, text, stale) in self._drawn_ages.items():
            if row != top + line - 1 or row >= len(order) or order[row] != miner_id:
                continue  # scrolled or reordered: that repaint redraws the line anyway
            seconds = model.age_s(miner_id, now)
            now_stale = seconds is None or seconds > model.stale_after_s
            if now_stale != stale:
                self.refresh_line(row + 1)
            elif age_text(seconds, stale) != text:
                ages.append(line)
        span = self._age_span()
        if ages and span is not None:
            x, width = span
            self.refresh(Region(x, min(ages), width, max(ages) - min(ages) + 1))

    def _age_span(self) -> tuple[int, int] | None:
        """Where the Age column is drawn (x, width), when the page of columns shown has it."""
        x = MARK_WIDTH
        for column, width in self.column_widths():
            if column.key == "age":
                return x, width
            x += width + 1
        return None

    def _set_cursor(self, row: int, *, scroll: bool = True) -> None:
        order = self.model.order
        old = self.cursor_id
        if not order:
            self._cursor_row, self.cursor_id = 0, None
        else:
            self._cursor_row = max(0, min(row, len(order) - 1))
            self.cursor_id = order[self._cursor_row]
        if scroll:
            scroll_row_into_view(self, self._cursor_row, self.body_height)
        self.refresh()
        self.cursor_changed(old)

    def move_to(self, miner_id: str) -> None:
        row = self.model.index.get(miner_id)
        if row is not None:
            self._set_cursor(row)

    # --- keys and mouse -------------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        """Up and down move the cursor; left and right show another page of columns."""
        if dx:
            page = max(0, min(self.column_page + dx, len(self.column_pages()) - 1))
            if page != self.column_page:
                self.column_page = page
                self.refresh()
                self.post_message(self.ColumnsMoved(page, len(self.column_pages())))
            return
        self._set_cursor(self._cursor_row + dy)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self._cursor_row + direction * self.body_height)

    def action_edge(self, end: int) -> None:
        self._set_cursor(len(self.model.order) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self.column_at(event.x)
            if column is not None:
                self.post_message(self.HeaderClicked(column.key))
            return
        row = int(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self.model.order):
            self._set_cursor(row, scroll=False)
            if event.chain >= 2 and self.cursor_id is not None:
                self.post_message(self.Activated(self.cursor_id))

    def column_at(self, x: int) -> Column | None:
        start = MARK_WIDTH
        for column, width in self.column_widths():
            if start <= x < start + width + 1:
                return column
            start += width + 1
        return None

    # --- drawing --------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return [column for column, _width in self.column_widths()]

    def column_pages(self) -> list[list[tuple[Column, int]]]:
        width = self.scrollable_content_region.width
        wanted = (width, self.model.sort_key)
        if wanted != self._columns_for:
            self._columns_for = wanted
            self._pages = column_pages(width, self.model.sort_key)
            self.column_page = 0  # a new width or sort: start again from the essentials
        return self._pages

    def column_widths(self) -> list[tuple[Column, int]]:
        pages = self.column_pages()
        return pages[min(self.column_page, len(pages) - 1)]

    def _make_frame(self) -> _Frame:
        base = self.rich_style
        cursor = base + self.get_component_rich_style("fleet-table--cursor")
        return _Frame(
            width=self.scrollable_content_region.width,
            base=base,
            cursor=cursor,
            header=base + self.get_component_rich_style("fleet-table--header"),
            columns=self.column_widths(),
            now=self.clock(),
        )

    def render_line(self, y: int) -> Strip:
        frame = self.frame()
        width = frame.width
        if y == 0:
            return self._header(frame)
        row = int(self.scroll_offset.y) + y - 1
        order = self.model.order
        if row >= len(order):
            self._drawn_ages.pop(y, None)
            return Strip.blank(width, frame.base)
        miner_id = order[row]
        model = self.model
        miner = model.get(miner_id) or {}
        line_style = frame.cursor if row == self._cursor_row else frame.base
        combine = frame.combine
        seconds = model.age_s(miner_id, frame.now)
        stale = seconds is None or seconds > model.stale_after_s
        if stale and row != self._cursor_row:
            line_style = combine(line_style, STALE_STYLE)
        shown_age = age_text(seconds, stale)
        self._drawn_ages[y] = (row, miner_id, shown_age, stale)
        mark = "◆ " if miner_id in model.selected else "  "
        segments = [Segment(mark, combine(line_style, MARK_STYLE))]
        used = MARK_WIDTH
        for column, cell_width in frame.columns:
            if column.key == "age":
                text = shown_age
                style: Style | None = YELLOW if stale else DIM
            else:
                text, style = column.cell(miner)
            segments.append(
                Segment(
                    pad_cell(text, cell_width, column.right) + " ",
                    combine(line_style, style) if style else line_style,
                )
            )
            used += cell_width + 1
        if used < width:
            segments.append(Segment(" " * (width - used), line_style))
        return Strip(segments, max(width, used)).crop(0, width)

    def _header(self, frame: _Frame) -> Strip:
        style = frame.header
        pages = len(self.column_pages())
        page = min(self.column_page, pages - 1)
        mark = ("‹" if page > 0 else " ") + ("›" if page < pages - 1 else " ")
        segments = [Segment(mark, style)]
        used = MARK_WIDTH
        model = self.model
        for column, width in frame.columns:
            label = column.label
            if column.key == model.sort_key:
                label = ("▼" if model.sort_desc else "▲") + label
            segments.append(Segment(pad_cell(label, width, column.right) + " ", style))
            used += width + 1
        if used < frame.width:
            segments.append(Segment(" " * (frame.width - used), style))
        return Strip(segments, max(frame.width, used)).crop(0, frame.width)


@dataclass(slots=True)
class _Frame:
    width: int
    base: Style
    cursor: Style
    header: Style
    columns: list[tuple[Column, int]]
    now: float
    combined: dict[tuple[Style, Style], Style] = field(default_factory=dict)

    def combine(self, line: Style, cell: Style) -> Style:
        key = (line, cell)
        style = self.combined.get(key)
        if style is None:
            style = self.combined[key] = line + cell
        return style
