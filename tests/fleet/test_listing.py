"""The fleet list's summary objects: the API object without boards and pools, never stale."""

from __future__ import annotations

from backend.fleet.listing import SummaryCache, summary_of


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
