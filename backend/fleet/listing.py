"""Miner summary objects (the API object without boards and pools) for the fleet list.

The list's `fields=summary` page used to build a new summary dict per miner per request: at
10,000 miners, tens of milliseconds before the first filter. The poller replaces a miner's API
object whenever the miner is polled (it never changes one in place), so a summary made from an
object stays right for as long as that same object is current.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.fleet.poller import SUMMARY_OMITS

Row = dict[str, Any]


def summary_of(data: Row) -> Row:
    """`data` without boards and pools (a C-level copy, then two deletions)."""
    summary = data.copy()
    for name in SUMMARY_OMITS:
        summary.pop(name, None)
    return summary


class SummaryCache:
    """Each miner's summary, kept with the API object it was made from."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[Row, Row]] = {}

    def rows(self, objects: Iterable[tuple[str, Row]]) -> list[Row]:
        """The summaries of `(miner id, current API object)`, in order; a miner no longer
        listed is forgotten."""
        known = self._by_id
        fresh: dict[str, tuple[Row, Row]] = {}
        rows: list[Row] = []
        for miner_id, data in objects:
            entry = known.get(miner_id)
            if entry is None or entry[0] is not data:
                entry = (data, summary_of(data))
            fresh[miner_id] = entry
            rows.append(entry[1])
        self._by_id = fresh
        return rows
