"""The top line: product, screen, connection state, alerts waiting for someone, paused and stale
markers, the filter in force, backend URL and key (what matters most first: a narrow terminal
cuts the end)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from hashinsight_tui.format import age
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.repaint import show

STATE_STYLE = {
    "connected": ("●", "green"),
    "connecting": ("◌", "yellow"),
    "reconnecting": ("○", "red"),
    "unauthorized": ("✖", "red"),
}


class StatusBar(Static):
    """One line; on narrow terminals (80x24 over SSH) the URL is shortened, the key name dropped."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def show(
        self,
        store: Store,
        screen_title: str,
        paused: bool,
        stale_after_s: float,
        *,
        shown_at: float | None = None,
        filter_text: str = "",
        alerts: tuple[int, int] | None = None,
    ) -> None:
        """`shown_at`: when the data on screen arrived (frozen at the pause while paused);
        `alerts`: (open alerts nobody acknowledged or silenced, of which critical)."""
        symbol, colour = STATE_STYLE.get(store.state, ("?", "white"))
        line = Text.assemble(("HashInsight", "bold"), "  ", (screen_title, "bold cyan"), "  ")
        line.append(f"{symbol} {store.state}", style=colour)
        if store.state == "reconnecting" and store.retry_in_s:
            line.append(f" (retry {store.retry_in_s:.0f}s)", style=colour)
        if store.state == "unauthorized":
            line.append("  ctrl+k: enter a key", style=colour)
        if alerts is not None and alerts[0]:
            waiting, critical = alerts
            style = "bold red" if critical else "bold yellow"
            line.append(f"  ⚠ {waiting} alert{'s' if waiting != 1 else ''}", style=style)
            if critical:
                line.append(f" ({critical} crit)", style=style)
        if paused:
            line.append("  ⏸ paused", style="bold yellow")
        data_age = None if shown_at is None else time.time() - shown_at
        if data_age is not None and (
            paused or store.state != "connected" or data_age > stale_after_s
        ):
            line.append(f"  stale {age(data_age)}", style="bold red")
        if filter_text:
            line.append("  filter ", style="bold")
            line.append(filter_text, style="bold magenta")
            line.append(" (esc clears)", style="dim")
        narrow = self.size.width and self.size.width < 100
        url = store.url.removeprefix("http://") if narrow else store.url
        line.append(f"  {url}", style="dim")
        if store.key is not None and not narrow:
            line.append(f"  key {store.key.name}", style="dim")
            if store.key.read_only:
                line.append(" [read-only]", style="yellow")
        show(self, line)
