"""The fleet list's summary objects: the API object without boards and pools, never stale."""

from __future__ import annotations

import random
from typing import Any

import pytest

from backend.fleet.listing import SEARCHED, MinerLister, MinerQuery, SummaryCache, summary_of


def _miner(miner_id: str, hashrate: float) -> dict[str, object]:
    return {"id": miner_id, "hashrate_ths": hashrate, "boards": [{"index": 0}], "pools": []}


def test_a_summary_leaves_out_boards_and_pools_and_keeps_the_object_whole() -> None:
    data = _miner("a", 100.0)
    assert summary_of(data) == {"id": "a", "hashrate_ths": 100.0}
    assert set(data) == {"id", "hashrate_ths", "boards", "pools"}


def test_a_polled_miner_shows_its_new_reading_and_a_removed_one_is_forgotten() -> None:
    cache = SummaryCache()
    a, b = _miner("a", 100.0), _miner("b", 90.0)
    first = cache.rows([("a", a), ("b", b)])
    assert [row["hashrate_ths"] for row in first] == [100.0, 90.0]
    assert cache.rows([("a", a), ("b", b)])[0] is first[0]  # same object: same summary
    polled = _miner("a", 55.5)  # the poller replaces a miner's object when it polls it
    assert [row["hashrate_ths"] for row in cache.rows([("a", polled), ("b", b)])] == [55.5, 90.0]
    assert cache.rows([("b", b)]) == [{"id": "b", "hashrate_ths": 90.0}]
    assert cache.rows([("a", a)])[0] is not first[0]  # "a" was forgotten, made afresh


def naive_page(items: list[dict[str, Any]], query: MinerQuery) -> tuple[list[dict[str, Any]], int]:
    """The list's rule spelled out: filter, sort (text without case, missing values last in
    either order, ties in fleet order), slice."""

    def keep(m: dict[str, Any]) -> bool:
        text = " ".join(str(m.get(k) or "") for k in SEARCHED).lower()
        return (
            (query.sites is None or str(m.get("site") or "").lower() in query.sites)
            and (query.statuses is None or m.get("status") in query.statuses)
            and (query.needle is None or query.needle in text)
        )

    kept = [m for m in items if keep(m)]
    present = [m for m in kept if m.get(query.sort) is not None]
    missing = [m for m in kept if m.get(query.sort) is None]

    def key(m: dict[str, Any]) -> Any:
        value = m[query.sort]
        return value.lower() if isinstance(value, str) else value

    ordered = sorted(present, key=key, reverse=query.descending) + missing
    return ordered[query.offset : query.offset + query.limit], len(kept)


@pytest.mark.parametrize("stable_objects", [False, True])
def test_a_page_is_the_slice_of_the_whole_list_in_order_ties_and_gaps_included(
    stable_objects: bool,
) -> None:
    """Top-k selection and the search-text caches give exactly the page a full sort gives."""
    rng = random.Random(7)
    miners = [
        {
            "id": f"10.0.{i // 250}.{i % 250}:4028",
            "status": rng.choice(["online", "offline", "error"]),
            "site": rng.choice(["Site A", "site a", "Site B", None]),
            "model": rng.choice(["Antminer S19 Pro", "M31S", None]),
            "hashrate_ths": rng.choice([None, 100.0, 100.0, rng.uniform(0, 120)]),
            "error": rng.choice([None, "timeout after 3.0s"]),
        }
        for i in range(600)
    ]
    lister = MinerLister(stable_objects=stable_objects)
    for sort in ("hashrate_ths", "site", "id", "model"):
        for descending in (False, True):
            for offset, limit in ((0, 10), (37, 50), (550, 100), (0, 1000)):
                for filters in ({}, {"sites": frozenset({"site a"})}, {"needle": "timeout"}):
                    query = MinerQuery(
                        sort=sort, descending=descending, offset=offset, limit=limit, **filters
                    )
                    assert lister.page(miners, query) == naive_page(miners, query), query
    changed = {**miners[0], "error": "now it says something else"}
    assert lister.page([changed], MinerQuery(needle="something else"))[1] == 1


def test_a_search_sees_an_object_changed_in_place_unless_objects_are_stable() -> None:
    # An API-only instance's view updates its miner objects in place: its lister must read
    # them again. The poller replaces them, and its lister keeps each text with its object.
    miner = {"id": "10.0.0.1:4028", "error": None}
    view_lister, poller_lister = MinerLister(), MinerLister(stable_objects=True)
    needle = MinerQuery(needle="fan failure")
    assert view_lister.page([miner], needle)[1] == poller_lister.page([miner], needle)[1] == 0
    miner["error"] = "fan failure"
    assert view_lister.page([miner], needle)[1] == 1
    assert poller_lister.page([miner], needle)[1] == 0  # the same object: its kept text
    assert poller_lister.page([{**miner}], needle)[1] == 1  # a new object is read
