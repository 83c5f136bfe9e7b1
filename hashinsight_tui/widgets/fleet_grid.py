"""The fleet heat-map: one cell per miner, grouped by site and rack, coloured by status or heat.

Like the table it is a line-rendered ScrollView over the shared FleetModel: the layout (which
miner sits on which line) is rebuilt only when the visible set changes, and a repaint formats only
the lines on screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.strip import Strip

from hashinsight_tui.fleet_model import FleetModel, Miner, hashrate_pct, problem
from hashinsight_tui.format import DASH
from hashinsight_tui.widgets.fleet_table import fmt_hashrate
from hashinsight_tui.widgets.fleet_view import FleetView

LABEL_WIDTH = 8
CELL_WIDTH = 2
GLYPH = "■"
SELECTED_GLYPH = "◆"
NO_RACK = DASH
NO_SITE = "(no site)"

STATUS_COLOURS: dict[str, Style] = {
    "online": Style(color="green"),
    "degraded": Style(color="yellow"),  # online, but under 90 % of its expected hashrate
    "problem": Style(color="red", bold=True),  # online, yet hashing nothing or every pool dead
    "offline": Style(color="red"),
    "error": Style(color="magenta"),
    "sleeping": Style(color="blue"),
    "unknown": Style(color="grey50"),
}
# (upper bound °C, colour): chip temperature bands, coolest first.
TEMP_BANDS: tuple[tuple[float, str], ...] = (
    (50.0, "#3b82f6"),
    (65.0, "#22c55e"),
    (75.0, "#a3e635"),
    (85.0, "#eab308"),
    (95.0, "#f97316"),
    (float("inf"), "#ef4444"),
)
_TEMP_STYLES = [(limit, Style(color=colour)) for limit, colour in TEMP_BANDS]
_NO_TEMP = Style(color="grey37")


def status_class(miner: Miner) -> str:
    status = miner.get("status")
    if status == "online":
        if problem(miner):
            return "problem"
        pct = hashrate_pct(miner)
        return "degraded" if pct is not None and pct < 90 else "online"
    return status if status in STATUS_COLOURS else "unknown"


def miner_temp(miner: Miner) -> float | None:
    chip = miner.get("temp_chip_max_c")
    return chip if chip is not None else miner.get("temp_board_max_c")


def temp_colour(celsius: float | None) -> Style:
    if celsius is None:
        return _NO_TEMP
    for limit, style in _TEMP_STYLES:
        if celsius < limit:
            return style
    return _TEMP_STYLES[-1][1]


def cell_style(miner: Miner, mode: str) -> Style:
    if mode == "temperature":
        return temp_colour(miner_temp(miner))
    return STATUS_COLOURS[status_class(miner)]


@dataclass(slots=True)
class GridLine:
    kind: str  # "site" | "rack"
    label: str
    ids: list[str] = field(default_factory=list)
    site: str = ""


@dataclass(slots=True)
class SiteStats:
    total: int = 0
    online: int = 0
    hashrate_ths: float = 0.0
    hashrate_known: bool = False


class FleetGrid(FleetView["_Frame"]):
    """A heat-map of the visible miners; the cursor is one miner."""

    DEFAULT_CSS = """
    FleetGrid > .fleet-grid--site {
        text-style: bold;
        color: $accent;
    }
    FleetGrid > .fleet-grid--label {
        color: $text-muted;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"fleet-grid--site", "fleet-grid--label"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1,0)", "Left", show=False),
        Binding("right", "move(1,0)", "Right", show=False),
    ]

    def __init__(self, model: FleetModel, *, id: str | None = None) -> None:
        super().__init__(model, id=id)
        self.mode = "status"  # or "temperature"
        self.lines: list[GridLine] = []
        self.flat: list[str] = []  # miners in grid order
        self.position: dict[str, tuple[int, int]] = {}  # id -> (line, column)
        self.site_stats: dict[str, SiteStats] = {}
        self._version = -1
        self._width = -1
        self._colours: dict[str, Style] = {}  # per miner, for the current mode

    # --- layout ---------------------------------------------------------------------------

    @property
    def cells_per_line(self) -> int:
        width = self.scrollable_content_region.width or 80
        return max(1, (width - LABEL_WIDTH) // CELL_WIDTH)

    def relayout(self) -> None:
        """Group the visible miners by site and rack, wrapping long racks over several lines."""
        model = self.model
        ids = list(model.order)
        if model.sort_key != "location" or model.sort_desc:
            ids.sort(key=model.location_of)
        per_line = self.cells_per_line
        lines: list[GridLine] = []
        site: object = object()
        rack: object = object()
        current: GridLine | None = None
        site_label = NO_SITE
        for miner_id in ids:
            miner = model.miners[miner_id]
            m_site, m_rack = miner.get("site"), miner.get("rack")
            if m_site != site:
                site, rack = m_site, object()
                site_label = NO_SITE if m_site is None else str(m_site)
                lines.append(GridLine("site", site_label))
            if m_rack != rack or current is None or len(current.ids) >= per_line:
                label = "" if m_rack == rack else (NO_RACK if m_rack is None else str(m_rack))
                rack = m_rack
                current = GridLine("rack", label, site=site_label)
                lines.append(current)
            current.ids.append(miner_id)
        self.lines = lines
        self.flat = ids
        self.position = {
            miner_id: (y, x) for y, line in enumerate(lines) for x, miner_id in enumerate(line.ids)
        }
        self._width = self.scrollable_content_region.width
        self._version = model.version
        self._colours.clear()
        self.virtual_size = Size(self.virtual_size.width, len(lines))
        self._recount()

    def _recount(self) -> None:
        stats: dict[str, SiteStats] = {}
        miners = self.model.miners
        for line in self.lines:
            if line.kind != "rack":
                continue
            entry = stats.setdefault(line.site, SiteStats())
            for miner_id in line.ids:
                miner = miners[miner_id]
                entry.total += 1
                if miner.get("status") == "online":
                    entry.online += 1
                rate = miner.get("hashrate_ths")
                if rate is not None:
                    entry.hashrate_ths += rate
                    entry.hashrate_known = True
        self.site_stats = stats

    def sync(self, changed: Iterable[str] = ()) -> None:
        """Follow the model: relayout when the visible set moved, else repaint changed lines."""
        if self.model.version != self._version or self._width != (
            self.scrollable_content_region.width
        ):
            self.relayout()
            if self.cursor_id not in self.position:
                self._set_cursor(self.flat[0] if self.flat else None)
            self.refresh()
            return
        changed = set(changed)
        if not changed:
            return
        for miner_id in changed:
            self._colours.pop(miner_id, None)
        self._recount()
        top = int(self.scroll_offset.y)
        bottom = top + self.scrollable_content_region.height
        for y in range(top, min(bottom, len(self.lines))):
            line = self.lines[y]
            if line.kind == "site" or not changed.isdisjoint(line.ids):
                self.refresh_line(y)

    def on_resize(self, _event: events.Resize) -> None:
        self.sync()

    # --- cursor ---------------------------------------------------------------------------

    def _set_cursor(self, miner_id: str | None) -> None:
        old = self.cursor_id
        self.cursor_id = miner_id
        if miner_id is not None and miner_id in self.position:
            y = self.position[miner_id][0]
            top = int(self.scroll_offset.y)
            height = self.scrollable_content_region.height
            if y < top:
                self.scroll_to(y=max(0, y - 1), animate=False, immediate=True)
            elif y >= top + height:
                self.scroll_to(y=y - height + 1, animate=False, immediate=True)
        self.refresh()
        self.cursor_changed(old)

    def move_to(self, miner_id: str) -> None:
        if miner_id in self.position:
            self._set_cursor(miner_id)

    def action_move(self, dx: int, dy: int) -> None:
        if not self.flat:
            return
        if self.cursor_id not in self.position:
            self._set_cursor(self.flat[0])
            return
        y, x = self.position[self.cursor_id]  # type: ignore[index]
        if dx:
            index = self.flat.index(self.cursor_id) if self.cursor_id else 0  # type: ignore[arg-type]
            index = max(0, min(len(self.flat) - 1, index + dx))
            self._set_cursor(self.flat[index])
            return
        target = y + dy
        while 0 <= target < len(self.lines) and self.lines[target].kind != "rack":
            target += dy
        if 0 <= target < len(self.lines):
            ids = self.lines[target].ids
            self._set_cursor(ids[min(x, len(ids) - 1)])

    def action_page(self, direction: int) -> None:
        for _ in range(max(1, self.scrollable_content_region.height - 1)):
            self.action_move(0, direction)

    def action_edge(self, end: int) -> None:
        if self.flat:
            self._set_cursor(self.flat[-1] if end else self.flat[0])

    def miner_at(self, x: int, y: int) -> str | None:
        line_no = int(self.scroll_offset.y) + y
        if not 0 <= line_no < len(self.lines) or x < LABEL_WIDTH:
            return None
        line = self.lines[line_no]
        column = (x - LABEL_WIDTH) // CELL_WIDTH
        return line.ids[column] if line.kind == "rack" and column < len(line.ids) else None

    def on_click(self, event: events.Click) -> None:
        miner_id = self.miner_at(event.x, event.y)
        if miner_id is None:
            return
        self._set_cursor(miner_id)
        if event.chain >= 2:
            self.post_message(self.Activated(miner_id))

    def toggle_mode(self) -> str:
        self.mode = "temperature" if self.mode == "status" else "status"
        self._colours.clear()
        self.refresh()
        return self.mode

    # --- drawing --------------------------------------------------------------------------

    def _make_frame(self) -> _Frame:
        base = self.rich_style
        return _Frame(
            width=self.scrollable_content_region.width,
            base=base,
            label=base + self.get_component_rich_style("fleet-grid--label"),
            site=base + self.get_component_rich_style("fleet-grid--site"),
        )

    def render_line(self, y: int) -> Strip:
        frame = self.frame()
        width, base = frame.width, frame.base
        line_no = int(self.scroll_offset.y) + y
        if line_no >= len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[line_no]
        if line.kind == "site":
            return self._site_line(line, frame)
        segments = [Segment(line.label[: LABEL_WIDTH - 1].ljust(LABEL_WIDTH), frame.label)]
        miners, selected, mode, cursor = (
            self.model.miners,
            self.model.selected,
            self.mode,
            self.cursor_id,
        )
        style_of = frame.style
        colours = self._colours
        run: list[str] = []
        run_style: Style | None = None
        for miner_id in line.ids:
            colour = colours.get(miner_id)
            if colour is None:
                colour = colours[miner_id] = cell_style(miners[miner_id], mode)
            style = style_of(colour)
            glyph = SELECTED_GLYPH if miner_id in selected else GLYPH
            if miner_id == cursor:
                if run:
                    segments.append(Segment("".join(run), run_style))
                    run = []
                segments.append(Segment(glyph, style_of(style, cursor=True)))
                segments.append(Segment(" ", base))
                run_style = None
                continue
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(glyph + " ")
        if run:
            segments.append(Segment("".join(run), run_style))
        used = min(width, LABEL_WIDTH + CELL_WIDTH * len(line.ids))
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, max(width, LABEL_WIDTH + CELL_WIDTH * len(line.ids)))

    def _site_line(self, line: GridLine, frame: _Frame) -> Strip:
        stats = self.site_stats.get(line.label, SiteStats())
        rate = fmt_hashrate(stats.hashrate_ths) if stats.hashrate_known else DASH
        text = f"{line.label} · {stats.online}/{stats.total} online · {rate}"
        return Strip([Segment(text[: frame.width].ljust(frame.width), frame.site)], frame.width)


@dataclass(slots=True)
class _Frame:
    """Styles resolved once per repaint (a style lookup costs more than drawing a cell)."""

    width: int
    base: Style
    label: Style
    site: Style
    combined: dict[tuple[Style, bool], Style] = field(default_factory=dict)

    def style(self, colour: Style, *, cursor: bool = False) -> Style:
        key = (colour, cursor)
        style = self.combined.get(key)
        if style is None:
            style = self.base + colour
            if cursor:
                style += Style(reverse=True, bold=True)
            self.combined[key] = style
        return style
