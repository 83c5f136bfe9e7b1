"""The Fleet screen's plain data model: miners by id, filter, sort, selection, batched updates.

Widgets draw from it and never hold rows of their own, so 10,000 miners cost one dict each and a
sweep of updates is merged in one pass (`apply_updates`) that reports which rows changed. The
visible order is rebuilt only when a change can move a row (a sorted or filtered field changed, or
a miner appeared); otherwise only the changed rows need repainting.

Rows stay as of the last sweep: the backend's deadbanded `miner.update` stream is for partners,
and each sweep's `fleet.readings` (every polled miner as one compact row) is merged by
`apply_readings`, which also stamps when each miner was last polled (`age_s`, `is_stale`). A
sweep of 10,000 rows must cost the console a few milliseconds, so a reading is compared whole
with the last one (unchanged rows cost one list comparison) and kept as is until something reads
that miner: `get` merges one row (the table asks only for the rows on screen), `miners` merges
every pending row (the grid, a filter or a sort on a reading need them all).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from hashinsight_tui.store import later

Miner = dict[str, Any]

STATUSES = ("online", "offline", "error", "sleeping")
STATUS_ORDER = {"offline": 0, "error": 1, "problem": 1, "sleeping": 2, "online": 3}
# A row is stale once it is older than this many poll intervals.
STALE_INTERVALS = 2.0
DEFAULT_INTERVAL_S = 10.0
# `:fleet key=value` filters the model understands; the rest of the words are free text.
FILTER_KEYS = ("status", "site", "rack", "model", "firmware")
# How a filter compares (case-insensitive): status whole; site and rack whole or by one word
# ("site=A" finds "Site A"); model and firmware as a substring ("model=S19" finds "S19 Pro").
EXACT_FILTERS = frozenset({"status"})
WORD_FILTERS = frozenset({"site", "rack"})
TEXT_FIELDS = ("id", "host", "site", "rack", "position", "model", "firmware", "status", "error")
LOCATION_FIELDS = ("site", "rack", "position", "id")
LOCATION_SET = frozenset(LOCATION_FIELDS)
_DIGITS = re.compile(r"(\d+)")


def hashrate_pct(miner: Mapping[str, Any]) -> float | None:
    """Hashrate as a % of what the miner should do; None when either side is unknown."""
    now, expected = miner.get("hashrate_ths"), miner.get("hashrate_expected_ths")
    if now is None or not expected:
        return None
    return 100.0 * now / expected


def problem(miner: Mapping[str, Any]) -> str | None:
    """Why an `online` miner is in fact not working: it hashes nothing, or every pool is dead."""
    if miner.get("status") != "online":
        return None
    rate = miner.get("hashrate_ths")
    if rate is None:
        rate = miner.get("hashrate_avg_ths")
    if rate is not None and rate <= 0:
        return "no hash"
    total = miner.get("pools_total")
    if total and not miner.get("pools_alive"):
        return "no pool"
    return None


# What a problem state means, for the error column and the cursor line.
PROBLEM_TEXT = {"no hash": "hashing nothing", "no pool": "every pool dead"}


def shown_status(miner: Mapping[str, Any]) -> str:
    """The status a person should read: `online` only when the miner really works."""
    return problem(miner) or miner.get("status") or ""


def fan_min(miner: Mapping[str, Any]) -> int | None:
    fans = miner.get("fans_rpm")
    return min(fans) if fans else None


def natural_key(value: Any) -> tuple[Any, ...]:
    """'R2' before 'R10': digits compare as numbers (text and numbers alternate, so any two
    keys compare without mixing types)."""
    if value is None:
        return ()
    parts: list[Any] = _DIGITS.split(str(value).lower())
    parts[1::2] = map(int, parts[1::2])
    return tuple(parts)


_cached_natural_key = lru_cache(maxsize=4096)(natural_key)  # sites, racks, positions repeat


def location_key(miner: Mapping[str, Any]) -> tuple[Any, ...]:
    """Site, rack, position, id: the physical order; unlabelled miners last."""
    site, rack = miner.get("site"), miner.get("rack")
    return (
        site is None,
        _cached_natural_key(site),
        rack is None,
        _cached_natural_key(rack),
        _cached_natural_key(miner.get("position")),
        natural_key(miner.get("id")),
    )


# Sort keys that are not plain fields: how to compute them and which fields they read.
DERIVED: dict[str, tuple[Callable[[Mapping[str, Any]], Any], tuple[str, ...]]] = {
    "status": (
        lambda m: STATUS_ORDER.get("problem" if problem(m) else m.get("status") or "", 9),
        ("status", "hashrate_ths", "hashrate_avg_ths", "pools_alive", "pools_total"),
    ),
    "hashrate_pct": (hashrate_pct, ("hashrate_ths", "hashrate_expected_ths")),
    "fan_min_rpm": (fan_min, ("fans_rpm",)),
    "location": (location_key, LOCATION_FIELDS),
}


def haystack(miner: Mapping[str, Any]) -> str:
    """The lower-cased text the free-text filter searches."""
    g = miner.get
    return (
        f"{g('id') or ''} {g('host') or ''} {g('site') or ''} {g('rack') or ''} "
        f"{g('position') or ''} {g('model') or ''} {g('firmware') or ''} {g('status') or ''} "
        f"{g('error') or ''}"
    ).lower()


def parse_filter_words(text: str) -> tuple[dict[str, str], str]:
    """Split `status=offline site=A s19` into ({status, site}, 's19')."""
    filters: dict[str, str] = {}
    words: list[str] = []
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key.lower() in FILTER_KEYS and value:
            filters[key.lower()] = value
        else:
            words.append(word)
    return filters, " ".join(words)


class FleetModel:
    """Every miner the console knows, and the visible (filtered, sorted) order of their ids."""

    def __init__(self) -> None:
        self._miners: dict[str, Miner] = {}
        self.order: list[str] = []  # visible ids, sorted
        self.index: dict[str, int] = {}  # id -> position in `order`
        self.selected: set[str] = set()
        self.text = ""
        self.filters: dict[str, str] = {}
        self.sort_key = "location"
        self.sort_desc = False
        self.version = 0  # bumped whenever `order` changes
        self._sources: dict[str, object] = {}  # the dict each row was last merged from
        self._haystack: dict[str, str] = {}  # lower-cased text per id, for the free-text filter
        self._location: dict[str, tuple[Any, ...]] = {}
        self.seen_at: dict[str, float] = {}  # id -> when the last sweep that polled it ended
        self._readings: dict[str, list[Any]] = {}  # id -> the last `fleet.readings` row taken
        self._pending: dict[str, list[Any]] = {}  # id -> a reading taken but not merged yet
        self._pending_names: tuple[str, ...] = ()  # what the pending rows' values are
        self._newest_at = 0.0  # the newest `polled_at` any row got from an update or a load
        self.interval_s = DEFAULT_INTERVAL_S

    # --- data in ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._miners)

    def __contains__(self, miner_id: object) -> bool:
        return miner_id in self._miners

    @property
    def miners(self) -> dict[str, Miner]:
        """Every row, with every reading taken so far merged in."""
        if self._pending:
            self._merge_pending()
        return self._miners

    def get(self, miner_id: str) -> Miner | None:
        """One row as of the last sweep (merging only its own pending reading)."""
        if miner_id in self._pending:
            self._merge_one(miner_id, self._pending.pop(miner_id))
        return self._miners.get(miner_id)

    def _merge_one(self, miner_id: str, row: list[Any]) -> None:
        old = self._miners.get(miner_id)
        if old is None:
            return
        merged = old.copy()  # rows are never mutated in place: a caller may hold the old one
        merged.update(zip(self._pending_names, row, strict=False))
        merged["polled_at"] = self.seen_at.get(miner_id, merged.get("polled_at"))
        self._miners[miner_id] = merged

    def _merge_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for miner_id, row in pending.items():
            self._merge_one(miner_id, row)

    def replace_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        """A full snapshot: miners not in it are gone (and leave the selection)."""
        fresh: dict[str, Miner] = {}
        miners = self.miners
        newest = self._newest_at
        for item in items:
            miner_id = item.get("id")
            if miner_id is None:
                continue
            old = miners.get(miner_id)
            if old is not None and not later(item.get("polled_at"), old.get("polled_at")):
                fresh[miner_id] = old  # the stream already told us something newer
            else:
                fresh[miner_id] = old | item if old is not None else dict(item)
                stamp = item.get("polled_at")
                if stamp is not None and stamp > newest:
                    newest = stamp
        self._miners = fresh
        self._newest_at = newest
        self._sources = {k: v for k, v in self._sources.items() if k in fresh}
        self._haystack.clear()
        self._location.clear()
        self._readings.clear()
        self.seen_at = {k: v for k, v in self.seen_at.items() if k in fresh}
        self.selected &= fresh.keys()
        self.rebuild()

    def apply_updates(self, batch: Iterable[Mapping[str, Any]]) -> set[str]:
        """Merge a batch of (partial) miner objects; return the ids whose row changed.

        An item older than what we hold (`polled_at`) is ignored; an item that is the very
        object merged last time costs one identity check, so the whole latest-state map can be
        offered on every refresh.
        """
        changed: set[str] = set()
        miners, sources, haystacks = self._miners, self._sources, self._haystack
        pending = self._pending
        newest = self._newest_at
        by_location = self.sort_key == "location" or not self.filters.keys().isdisjoint(
            LOCATION_FIELDS
        )
        watched = tuple(self._watched_fields() - set(LOCATION_FIELDS))
        reorder = False
        added = False
        for item in batch:
            miner_id = item.get("id")
            if miner_id is None or sources.get(miner_id) is item:
                continue
            sources[miner_id] = item
            if miner_id in pending:
                self._merge_one(miner_id, pending.pop(miner_id))
            old = miners.get(miner_id)
            new_at = item.get("polled_at")
            if new_at is not None and new_at > newest:
                newest = new_at
            if old is None:
                miners[miner_id] = item if isinstance(item, dict) else dict(item)
                added = True
                changed.add(miner_id)
                continue
            if not later(new_at, old.get("polled_at")):
                continue
            # A whole row (the usual case) is kept as is: rows are never mutated in place.
            merged = item if item.keys() >= old.keys() else old | item
            if merged == old:
                continue
            miners[miner_id] = merged  # type: ignore[assignment]
            changed.add(miner_id)
            if haystacks:
                haystacks.pop(miner_id, None)
            get, was = merged.get, old.get
            if (
                get("site") != was("site")
                or get("rack") != was("rack")
                or get("position") != was("position")
            ):
                self._location.pop(miner_id, None)
                reorder = reorder or by_location
            if not reorder and watched:
                for name in watched:
                    if get(name) != was(name):
                        reorder = True
                        break
        self._newest_at = newest
        if added or reorder:
            self.rebuild()
        return changed

    def apply_readings(
        self, fields: Iterable[str], rows: Iterable[list[Any]], polled_at: float
    ) -> set[str]:
        """Take one sweep's `fleet.readings` (rows of [id, *fields]); return the changed ids.

        Every polled miner is stamped `polled_at` (its age restarts); a row equal to the last one
        taken for that miner costs one list comparison, a changed one is kept until something
        reads that miner. A reading older than what a miner already holds is ignored. Unknown
        ids are left to the next full load (their labels and model are not in a reading).
        """
        names = ("id", *fields)
        if names != self._pending_names:
            if self._pending:
                self._merge_pending()
            self._pending_names = names
        miners, last = self._miners, self._readings
        if polled_at >= self._newest_at:  # the usual case: nothing newer than this sweep is held
            taken = [row for row in rows if row[0] in miners]
            self._newest_at = polled_at
        else:
            taken = [
                row for row in rows if row[0] in miners and not self._holds_newer(row[0], polled_at)
            ]
        self.seen_at.update(dict.fromkeys([row[0] for row in taken], polled_at))
        last_get = last.get
        fresh = {row[0]: row for row in taken if last_get(row[0]) != row}
        reorder = self.sort_key == "age" and bool(taken)
        if fresh and not reorder:
            watched = self._watched_fields()
            positions = [i for i, name in enumerate(names) if i and name in watched]
            reorder = bool(positions) and self._moves(fresh, positions)
        last.update(fresh)
        self._pending.update(fresh)
        if fresh and not LOCATION_SET.isdisjoint(names[1:]):
            for miner_id in fresh:
                self._location.pop(miner_id, None)
        if fresh and self._haystack:
            for miner_id in fresh:
                self._haystack.pop(miner_id, None)
        if reorder:
            self.rebuild()
        return set(fresh)

    def _holds_newer(self, miner_id: str, polled_at: float) -> bool:
        """Whether a miner's row or a later sweep is newer than a reading stamped `polled_at`."""
        stamp = self._miners[miner_id].get("polled_at") or 0.0
        return stamp > polled_at or self.seen_at.get(miner_id, 0.0) > polled_at

    def _moves(self, fresh: Mapping[str, list[Any]], positions: list[int]) -> bool:
        """Whether any fresh reading changes a sorted or filtered value (so rows may move)."""
        pending, miners, names = self._pending, self._miners, self._pending_names
        for miner_id, row in fresh.items():
            before = pending.get(miner_id)
            if before is not None:
                if any(row[i] != before[i] for i in positions):
                    return True
                continue
            get = miners[miner_id].get
            if any(row[i] != get(names[i]) for i in positions):
                return True
        return False

    # --- freshness ------------------------------------------------------------------------------

    def polled_at(self, miner_id: str) -> float | None:
        """When the miner was last polled: its row's stamp or the last sweep that covered it."""
        miner = self._miners.get(miner_id)
        stamp = miner.get("polled_at") if miner is not None else None
        seen = self.seen_at.get(miner_id)
        if stamp is None or (seen is not None and seen > stamp):
            return seen
        return stamp

    def age_s(self, miner_id: str, now: float | None = None) -> float | None:
        stamp = self.polled_at(miner_id)
        return None if stamp is None else max(0.0, (now or time.time()) - stamp)

    @property
    def stale_after_s(self) -> float:
        return STALE_INTERVALS * self.interval_s

    def is_stale(self, miner_id: str, now: float | None = None) -> bool:
        """Older than two poll intervals: the row no longer says how the miner is now."""
        age = self.age_s(miner_id, now)
        return age is None or age > self.stale_after_s

    def _watched_fields(self) -> set[str]:
        """Fields whose change can move a row: the sort field and the filtered ones."""
        fields = set(DERIVED[self.sort_key][1]) if self.sort_key in DERIVED else {self.sort_key}
        fields |= self.filters.keys()
        if self.text:
            fields |= set(TEXT_FIELDS)
        return fields

    # --- filter and sort ---------------------------------------------------------------------

    def set_filter(self, text: str, filters: Mapping[str, str] | None = None) -> None:
        """Free text (all words must match) plus structured `key=value` filters."""
        parsed, words = parse_filter_words(text)
        merged = dict(filters or {}) | parsed
        self.text = words.strip().lower()
        self.filters = {k: v.lower() for k, v in merged.items() if v}
        self.rebuild()

    def set_sort(self, key: str, desc: bool | None = None) -> None:
        if desc is None:
            desc = not self.sort_desc if key == self.sort_key else False
        self.sort_key, self.sort_desc = key, desc
        self.rebuild()

    def matches(self, miner_id: str, miner: Mapping[str, Any]) -> bool:
        for key, wanted in self.filters.items():
            value = miner.get(key)
            if value is None:
                return False
            value = str(value).lower()
            if key in EXACT_FILTERS:
                if value not in wanted.split(","):
                    return False
            elif key in WORD_FILTERS:
                words = value.split()
                if not any(w == value or w in words for w in wanted.split(",")):
                    return False
            elif wanted not in value:
                return False
        if self.text:
            hay = self._haystack.get(miner_id)
            if hay is None:
                hay = self._haystack[miner_id] = haystack(miner)
            return all(word in hay for word in self.text.split())
        return True

    def location_of(self, miner_id: str) -> tuple[Any, ...]:
        """The physical-order key of one miner (cached until the miner changes)."""
        key = self._location.get(miner_id)
        if key is None:
            key = self._location[miner_id] = location_key(self.get(miner_id) or {})
        return key

    def sort_value(self, miner_id: str, miner: Mapping[str, Any]) -> Any:
        if self.sort_key == "location":
            return self.location_of(miner_id)
        if self.sort_key == "age":
            stamp = self.polled_at(miner_id)
            return None if stamp is None else -stamp  # youngest first, ascending
        derived = DERIVED.get(self.sort_key)
        value = derived[0](miner) if derived else miner.get(self.sort_key)
        if isinstance(value, str):
            return natural_key(value)  # 127.0.1.8 before 127.0.1.90, R2 before R10
        if isinstance(value, list):
            return len(value)
        return value

    def rebuild(self) -> None:
        """Recompute the visible order; missing values sort last in both directions."""
        filtering = bool(self.filters or self.text)
        # Location and age come from labels and stamps, never from a pending reading.
        miners = (
            self.miners if filtering or self.sort_key not in ("location", "age") else self._miners
        )
        present: list[tuple[Any, str]] = []
        missing: list[str] = []
        for miner_id, miner in miners.items():
            if filtering and not self.matches(miner_id, miner):
                continue
            value = self.sort_value(miner_id, miner)
            if value is None:
                missing.append(miner_id)
            else:
                present.append((value, miner_id))
        try:
            present.sort(reverse=self.sort_desc)
        except TypeError:  # a field holding mixed types: compare as text, never crash
            present.sort(key=lambda p: (str(p[0]), p[1]), reverse=self.sort_desc)
        missing.sort()
        self.order = [miner_id for _v, miner_id in present] + missing
        self.index = {miner_id: i for i, miner_id in enumerate(self.order)}
        self.version += 1

    # --- selection ----------------------------------------------------------------------------

    def toggle(self, miner_id: str) -> bool:
        """Flip one miner's selection; return whether it is now selected."""
        if miner_id in self.selected:
            self.selected.discard(miner_id)
            return False
        if miner_id in self._miners:
            self.selected.add(miner_id)
            return True
        return False

    def select_visible(self) -> int:
        """Select every visible miner (or clear them if all already are); return the count."""
        visible = set(self.order)
        if visible and visible <= self.selected:
            self.selected -= visible
        else:
            self.selected |= visible
        return len(self.selected)

    def clear_selection(self) -> None:
        self.selected.clear()

    def targets(self, cursor_id: str | None) -> list[str]:
        """What an action applies to: the visible selection, else the miner under the cursor."""
        chosen = [miner_id for miner_id in self.order if miner_id in self.selected]
        if chosen:
            return chosen
        return [cursor_id] if cursor_id is not None and cursor_id in self._miners else []

    # --- figures for the screen ---------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Visible miners by status (for the note line; the backend summary is the truth)."""
        result = dict.fromkeys(STATUSES, 0)
        miners = self.miners
        for miner_id in self.order:
            status = miners[miner_id].get("status")
            if status in result:
                result[status] += 1
        return result


# --- API values as plain dicts (the model keeps the API's JSON shape) ---------------------------


def as_dict(value: Any) -> Any:
    """A contract model, DTO (dataclass or `to_dict`) or dict as a plain dict; lists
    element-wise. A model gives the fields its answer carried (a summary miner has no boards),
    the same shape as the streamed events the fleet views merge it with."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, list | tuple):
        return [as_dict(item) for item in value]
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot read {type(value).__name__} as a dict")


def page_items(page: Any) -> tuple[list[dict[str, Any]], int | None]:
    data = as_dict(page) if not isinstance(page, list) else {"items": page}
    items = [as_dict(item) for item in data.get("items", [])]
    return items, data.get("total")
