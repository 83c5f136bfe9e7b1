"""The console's one merge rule (REST snapshot vs streamed event) and its one set of formatters."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.issuer import IssueOut
from hashinsight_contract.market import PriceCurrent
from hashinsight_tui.client import StreamEvent
from hashinsight_tui.format import (
    DASH,
    DATE_MINUTES,
    DAY_MINUTES,
    DAY_SECONDS,
    TIME_SECONDS,
    ago,
    short,
    when,
)
from hashinsight_tui.screens.fleet import newest_summary
from hashinsight_tui.store import Store, merge_by_id, newest

ISO = "2026-05-01T12:34:56.789+00:00"


def price(value: float, as_of: float) -> dict[str, Any]:
    return {
        "price_usd": value,
        "source": "coingecko",
        "as_of": as_of,
        "age_s": 1.0,
        "stale": False,
        "via": "live",
        "change_24h_pct": None,
        "volume_24h_usd": None,
        "market_cap_usd": None,
        "attempts": [],
        "fallback_order": ["coingecko"],
    }


def tick(data: dict[str, Any], channel: str = "prices", event: str = "price.tick") -> StreamEvent:
    return StreamEvent(channel, event, data, 0.0)


def current(store: Store) -> PriceCurrent | None:
    return newest(
        store, "prices.current", "prices", "price.tick", PriceCurrent.model_validate, _as_of
    )


def _as_of(value: PriceCurrent) -> float:
    return value.as_of


def test_newest_takes_the_newer_stamp_whichever_side_arrived_last() -> None:
    store = Store()
    assert current(store) is None
    store.set_snapshots({"prices.current": PriceCurrent.model_validate(price(100.0, 20.0))})
    store.apply([tick(price(90.0, 10.0))])  # arrives later, but was true earlier
    assert current(store).price_usd == 100.0  # type: ignore[union-attr]
    store.apply([tick(price(110.0, 30.0))])
    assert current(store).price_usd == 110.0  # type: ignore[union-attr]


def test_newest_prefers_the_later_arrival_on_a_tie() -> None:
    store = Store()
    store.apply([tick(price(90.0, 20.0))])
    store.set_snapshots({"prices.current": PriceCurrent.model_validate(price(100.0, 20.0))})
    assert current(store).price_usd == 100.0  # type: ignore[union-attr]
    store.apply([tick(price(95.0, 20.0))])
    assert current(store).price_usd == 95.0  # type: ignore[union-attr]


def test_a_streamed_value_that_does_not_fit_never_hides_the_snapshot() -> None:
    store = Store()
    store.set_snapshots({"prices.current": PriceCurrent.model_validate(price(100.0, 20.0))})
    store.apply([tick({"price_usd": "lots", "as_of": 99.0})])
    assert current(store).price_usd == 100.0  # type: ignore[union-attr]


def test_newest_finds_the_event_after_many_others_on_its_channel() -> None:
    store = Store()
    store.apply([tick(price(90.0, 20.0))])
    store.apply([tick({"id": n}, event="price.other") for n in range(600)])
    assert current(store).price_usd == 90.0  # type: ignore[union-attr]


def summary(total: int, started_at: float) -> dict[str, Any]:
    return {
        "total": total,
        "online": total,
        "offline": 0,
        "error": 0,
        "sleeping": 0,
        "hashrate_ths": None,
        "hashrate_expected_ths": None,
        "power_kw": None,
        "efficiency_jth": None,
        "revenue_usd_day": None,
        "cost_usd_day": None,
        "profit_usd_day": None,
        "open_alerts": 0,
        "sweep": {
            "started_at": started_at,
            "duration_s": 1.0,
            "miners": total,
            "errors": 0,
            "interval_s": 10.0,
        },
        "sites": [],
        "hashprice_usd_per_th_day": None,
        "power_price_usd_kwh": 0.05,
    }


def test_newest_summary_prefers_the_later_sweep() -> None:
    store = Store()
    store.set_snapshots({"fleet.summary": summary(1, 10.0)})
    assert newest_summary(store)["total"] == 1  # type: ignore[index]
    store.apply([tick(summary(2, 20.0), "miners", "fleet.sweep")])
    assert newest_summary(store)["total"] == 2  # type: ignore[index]
    store.set_snapshots({"fleet.summary": summary(3, 30.0)})
    assert newest_summary(store)["total"] == 3  # type: ignore[index]
    store.apply([tick({"total": "?"}, "miners", "fleet.sweep")])  # does not fit: skipped
    assert newest_summary(store)["total"] == 3  # type: ignore[index]


def issue(issue_id: int, state: str, updated_at: str) -> dict[str, Any]:
    times = dict.fromkeys(
        ("window_start", "window_end", "first_trade_at", "last_trade_at", "created_at"), updated_at
    )
    unset = dict.fromkeys(
        ("sequence", "tx_hash", "block_height", "rfe_address", "decided_by", "decided_at"),
    )
    unset |= dict.fromkeys(
        ("decision_reason", "signing_at", "signed_at", "submitted_at", "confirmed_at", "last_error")
    )
    return {
        **times,
        **unset,
        "id": issue_id,
        "state": state,
        "mode": "auto",
        "symbol": "NDAU_USDT",
        "qty_napu": "100",
        "qty_ndau": "0.00000100",
        "trade_count": 1,
        "updated_at": updated_at,
        "attempts": 0,
        "resequenced": 0,
    }


def test_merge_by_id_keeps_the_newest_row_per_id_and_skips_rows_that_do_not_fit() -> None:
    rest = [issue(1, "confirmed", "2026-05-01T10:00:00"), issue(2, "detected", ISO)]
    streamed = [
        issue(1, "detected", "2026-05-01T09:00:00"),  # older than the REST row: ignored
        issue(2, "awaiting_approval", ISO),  # same stamp, arrived later: wins
        {"id": 3, "state": "detected"},  # not an issue by the contract: skipped
        issue(4, "detected", ISO),
    ]
    rows = merge_by_id(rest, streamed, IssueOut, lambda row: row.updated_at)
    assert [(row.id, row.state) for row in rows] == [
        (4, "detected"),
        (2, "awaiting_approval"),
        (1, "confirmed"),
    ]


def test_when_prints_the_precision_the_caller_names() -> None:
    assert when(ISO, DATE_MINUTES) == "2026-05-01 12:34"
    assert when(ISO, DAY_MINUTES) == "05-01 12:34"
    assert when(ISO, DAY_SECONDS) == "05-01 12:34:56"
    assert when(ISO, TIME_SECONDS) == "12:34:56"
    assert when(None, DAY_SECONDS) == DASH
    assert when("2026-05-01T12:34", DAY_SECONDS) == DASH  # too short for seconds: not made up
    assert when("2026-05-01T12:34", DAY_MINUTES) == "05-01 12:34"


def test_short_keeps_head_and_tail_around_an_ellipsis() -> None:
    address = "0xb99dC4BdC3675A488E37E6e5142466e08a072F90"
    assert short(address, 6, 4) == "0xb99d…2F90"
    assert short("worker-01.example", 12) == "worker-01.ex…"
    assert short("abc", 12) == "abc"
    assert short(None, 12) == DASH
    assert ago(None) == DASH and ago(75) == "1m ago"
