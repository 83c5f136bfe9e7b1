"""How the market and network screens print numbers and their provenance.

Every figure is shown with where it came from and how old it is; a stale value says so in red,
and a missing one is "—" with the reason next to it, never a zero.
"""

from __future__ import annotations

from rich.text import Text

from hashinsight_tui.format import DASH, ago, local_age


def usd(value: float | None, decimals: int = 2) -> str:
    return DASH if value is None else f"${value:,.{decimals}f}"


def compact(value: float | None, prefix: str = "") -> str:
    """1.23T / 4.56B / 7.89M / 12.3K."""
    if value is None:
        return DASH
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{prefix}{value / size:,.2f}{suffix}"
    return f"{prefix}{value:,.2f}"


def pct(value: float | None, decimals: int = 2) -> Text:
    if value is None:
        return Text(DASH, style="dim")
    style = "green" if value > 0 else "red" if value < 0 else ""
    arrow = "▲" if value > 0 else "▼" if value < 0 else "•"
    return Text(f"{arrow} {value:+.{decimals}f}%", style=style)


# Ages past which the console calls a value stale by itself (the backend's default limits), so a
# value is not shown as fresh when the backend has stopped sending news.
PRICE_STALE_S = 180.0
NETWORK_STALE_S = 1800.0


def provenance(
    source: str | None,
    as_of: float | None,
    stale: bool,
    via: str = "live",
    stale_after_s: float | None = None,
) -> Text:
    """`coingecko · 4s ago` or, in red, `STALE · cached from mempool · 3m ago`."""
    if source is None or as_of is None:
        return Text(DASH, style="dim")
    seconds = local_age(as_of)
    when = ago(seconds)
    if stale_after_s is not None and seconds is not None and seconds > stale_after_s:
        stale = True
    if via == "cache":
        return Text(f"STALE · cached from {source} · {when}", style="bold red")
    if stale:
        return Text(f"STALE · {source} · {when}", style="bold red")
    return Text(f"{source} · {when}", style="dim")
