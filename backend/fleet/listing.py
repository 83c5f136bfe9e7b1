"""The fleet list: miner summary objects (the API object without boards and pools) and the
query that filters, sorts and pages them.

The list's `fields=summary` page used to build a new summary dict per miner per request: at
10,000 miners, tens of milliseconds before the first filter. The poller replaces a miner's API
object whenever the miner is polled (it never changes one in place), so a summary made from an
object stays right for as long as that same object is current.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
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


# --------------------------------------------------------------------------- the list query

SEARCHED = ("id", "host", "model", "firmware", "site", "rack", "position", "error")
SEARCH_CACHE_MAX = 100_000  # distinct (id, labels, error) texts kept; cleared past this


@dataclass(frozen=True)
class MinerQuery:
    """One page of the fleet list: filters (lower-cased sets), a search needle, a sort."""

    sites: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    models: frozenset[str] | None = None
    needle: str | None = None
    sort: str = "id"
    descending: bool = False
    offset: int = 0
    limit: int = 100


class MinerLister:
    """Filters, sorts and pages miner objects; only the first `offset + limit` miners in order
    are sorted out (top-k).

    A miner's search text is found by the values it is made of, so a sweep that changed no
    label joins no strings. With `stable_objects` (the poller's objects: replaced when a miner
    is polled, never changed in place) it is also kept with the object it was read from, so a
    search between two sweeps reads one dict entry a miner; that keeps at most one superseded
    object a miner alive until the next search. The view of an API-only instance updates its
    objects in place, so it must not say so."""

    def __init__(self, *, stable_objects: bool = False) -> None:
        self._texts: dict[tuple[Any, ...], str] = {}
        self._by_object: dict[Any, tuple[Row, str]] | None = {} if stable_objects else None

    def page(self, items: list[Row], query: MinerQuery) -> tuple[list[Row], int]:
        """The page and the number of miners that matched."""
        if query.sites or query.statuses or query.models or query.needle:
            items = [m for m in items if self._matches(m, query)]
        sort = query.sort
        present = [m for m in items if m.get(sort) is not None]
        end = query.offset + query.limit
        key = _sort_key(sort, present)
        if end < len(present):
            choose = heapq.nlargest if query.descending else heapq.nsmallest
            ordered = choose(end, present, key=key)  # as sorted(...)[:end], stable
        else:
            present.sort(key=key, reverse=query.descending)
            ordered = present + [m for m in items if m.get(sort) is None]
        return ordered[query.offset : end], len(items)

    def _matches(self, miner: Row, query: MinerQuery) -> bool:
        if query.sites is not None and str(miner.get("site") or "").lower() not in query.sites:
            return False
        if query.statuses is not None and miner.get("status") not in query.statuses:
            return False
        if query.models is not None and str(miner.get("model") or "").lower() not in query.models:
            return False
        return query.needle is None or query.needle in self._text(miner)

    def _text(self, miner: Row) -> str:
        by_object, miner_id = self._by_object, miner.get("id")
        if by_object is not None:
            known = by_object.get(miner_id)
            if known is not None and known[0] is miner:
                return known[1]
        values = tuple(map(miner.get, SEARCHED))
        text = self._texts.get(values)
        if text is None:
            if len(self._texts) >= SEARCH_CACHE_MAX:
                self._texts.clear()
            text = self._texts[values] = " ".join(str(v or "") for v in values).lower()
        if by_object is not None:
            if len(by_object) >= SEARCH_CACHE_MAX:
                by_object.clear()
            by_object[miner_id] = (miner, text)
        return text


_NUMBERS = (int, float)  # a tuple: `int | float` would build a union object per row


def _sort_key(field: str, rows: list[Row]) -> Callable[[Row], Any]:
    """Numbers as they are; anything else as text without case (a column that mixes the two,
    which no miner object should, sorts as text rather than failing)."""
    if all(isinstance(row[field], _NUMBERS) for row in rows):
        return itemgetter(field)
    return lambda row: str(row[field]).lower()
