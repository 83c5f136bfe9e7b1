"""The Bitmart client against the Bitmart simulator over loopback: signing, paging by time
window, deduplication, ordering, rate limits and error codes."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from backend.core.clock import SYSTEM_CLOCK, ManualClock
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory
from backend.issuer.apikey import BitmartApiKey, load_api_key
from backend.issuer.bitmart import (
    PACING_SLACK_S,
    PACING_WINDOW_S,
    RATE_LIMIT_CALLS,
    RATE_LIMIT_WINDOW_S,
    BitmartClient,
    RateLimiter,
    parse_trade,
)
from backend.issuer.errors import BitmartAuthError, TradeDataError
from backend.issuer.http_call import loads_exact
from backend.sim.bitmart import BitmartSimulator


def client(
    http: HttpClientFactory, sim: BitmartSimulator, *, key: BitmartApiKey | None = None, **kw
) -> BitmartClient:
    return BitmartClient(
        http,
        key or load_api_key(sim.key_file),
        base_url=sim.url,
        symbol="NDAU_USDT",
        clock=kw.pop("clock", SYSTEM_CLOCK),
        **kw,
    )


async def test_signed_query_returns_only_sells_of_the_symbol_in_order(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator
) -> None:
    now = int(time.time() * 1000)
    bitmart_sim.add_trade(side="sell", size="2", at_ms=now - 50, trade_id="99999999999999999")
    # Same millisecond: ordered by tradeId as an integer, not as text ("1000..." < "999...").
    bitmart_sim.add_trade(side="sell", size="1.5", at_ms=now - 50, trade_id="100000000000000000")
    bitmart_sim.add_trade(side="sell", size="3", at_ms=now - 90)
    bitmart_sim.add_trade(side="buy", size="7", at_ms=now - 80)
    bitmart_sim.add_trade(side="sell", size="9", at_ms=now - 70, symbol="BTC_USDT")
    sells = await client(http, bitmart_sim).fetch_sells(now - 1000, now)
    assert [t.size for t in sells] == [Decimal("3"), Decimal("2"), Decimal("1.5")]
    assert [t.trade_id for t in sells[1:]] == ["99999999999999999", "100000000000000000"]
    assert all(t.side == "sell" and t.symbol == "NDAU_USDT" for t in sells)
    assert sum(t.napu() for t in sells) == 650_000_000
    assert bitmart_sim.auth_failures == []


async def test_window_is_half_open_whatever_bitmart_does_with_its_bounds(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator
) -> None:
    start, end = 1_700_000_000_000, 1_700_000_010_000
    for at in (start - 1, start, end - 1, end):
        bitmart_sim.add_trade(side="sell", size="1", at_ms=at)
    got = await client(http, bitmart_sim).fetch_sells(start, end)
    assert [t.create_time_ms for t in got] == [start, end - 1]
    # The next window picks up exactly where this one stopped.
    later = await client(http, bitmart_sim).fetch_sells(end, end + 5)
    assert [t.create_time_ms for t in later] == [end]


async def test_full_pages_are_split_until_nothing_is_lost(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator
) -> None:
    base = 1_700_000_000_000
    ids = set()
    for i in range(23):
        # Bursts of identical timestamps across the splits.
        trade = bitmart_sim.add_trade(side="sell", size="0.1", at_ms=base + (i // 3) * 7)
        ids.add(trade["tradeId"])
    bitmart_sim.rate_limit = 1000  # this test is about paging, not pacing
    fast = RateLimiter(SYSTEM_CLOCK, calls=1000, window_s=1.0)
    bm = client(http, bitmart_sim, page_limit=5, limiter=fast)
    got = await bm.fetch_sells(base, base + 1000)
    assert {t.trade_id for t in got} == ids and len(got) == 23
    assert [t.sort_key for t in got] == sorted(t.sort_key for t in got)
    assert bm.requests_sent > 5  # the simulator only ever returned 5 trades per call


async def test_more_than_a_page_in_one_millisecond_is_a_clear_error(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator
) -> None:
    for _ in range(4):
        bitmart_sim.add_trade(side="sell", size="1", at_ms=1_700_000_000_000)
    with pytest.raises(Exception, match="cannot page further"):
        await client(http, bitmart_sim, page_limit=3).fetch_sells(
            1_700_000_000_000, 1_700_000_000_001
        )


async def test_wrong_secret_surfaces_30005_without_the_secret(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator, health: HealthRegistry
) -> None:
    real = load_api_key(bitmart_sim.key_file)
    wrong = BitmartApiKey(real.access, "f" * 64, real.memo)
    with pytest.raises(BitmartAuthError) as info:
        await client(http, bitmart_sim, key=wrong).fetch_sells(0, 10)
    assert info.value.code == 30005 and info.value.status == 401
    assert "check the secret and memo" in str(info.value)
    assert "f" * 64 not in str(info.value) and real.secret not in str(info.value)
    item = health.get("bitmart")
    assert item is not None and item.status in ("degraded", "down")
    assert "30005" in (item.last_error or "")


async def test_unknown_key_and_clock_skew_have_their_own_codes(
    http: HttpClientFactory, bitmart_sim: BitmartSimulator
) -> None:
    real = load_api_key(bitmart_sim.key_file)
    with pytest.raises(BitmartAuthError) as info:
        unknown = BitmartApiKey("00" * 20, real.secret, real.memo)
        await client(http, bitmart_sim, key=unknown).query_trades(0, 10)
    assert info.value.code == 30002
    skewed = ManualClock(start=time.time() - 300)
    with pytest.raises(BitmartAuthError) as info:
        await client(http, bitmart_sim, clock=skewed).query_trades(0, 10)
    assert info.value.code == 30007 and "clock" in str(info.value)


async def test_the_limiter_keeps_under_the_limit(health: HealthRegistry) -> None:
    assert (RATE_LIMIT_CALLS, RATE_LIMIT_WINDOW_S) == (12, 2.0)
    assert PACING_WINDOW_S >= RATE_LIMIT_WINDOW_S
    sim = BitmartSimulator(rate_limit=4, rate_window_s=0.3)
    await sim.start()
    http = HttpClientFactory(health, retries=0)
    try:
        # The product's slack in absolute time: a window of 0.3 s paced at 0.5 s.
        limiter = RateLimiter(SYSTEM_CLOCK, calls=4, window_s=0.3 + PACING_SLACK_S)
        bm = client(http, sim, limiter=limiter)
        started = time.monotonic()
        for _ in range(10):
            await bm.query_trades(0, 10)
        assert sim.rate_limited == 0
        assert time.monotonic() - started >= 1.0  # 10 calls at 4 per 0.5 s
    finally:
        await http.aclose()
        await sim.stop()
        sim.cleanup()


async def test_429_backs_off_and_retries(health: HealthRegistry) -> None:
    sim = BitmartSimulator(rate_limit=2, rate_window_s=0.3)
    await sim.start()
    http = HttpClientFactory(health, retries=0)
    sim.add_trade(side="sell", size="1", at_ms=5)
    try:
        bm = client(http, sim, limiter=RateLimiter(SYSTEM_CLOCK, calls=50, window_s=0.3))
        results = [await bm.fetch_sells(0, 10) for _ in range(6)]
        assert sim.rate_limited >= 1  # the simulator did answer 429...
        assert all(len(r) == 1 for r in results)  # ...and every call still succeeded
    finally:
        await http.aclose()
        await sim.stop()
        sim.cleanup()


async def test_a_5xx_is_retried(http: HttpClientFactory, bitmart_sim: BitmartSimulator) -> None:
    bitmart_sim.add_trade(side="sell", size="1", at_ms=5)
    bitmart_sim.fail_next = [503]
    assert len(await client(http, bitmart_sim).fetch_sells(0, 10)) == 1
    assert bitmart_sim.fail_next == []


def test_amounts_are_exact_decimals_and_fractional_napu_is_refused() -> None:
    body = loads_exact(b'{"size": 0.1, "n": 12345678901234567890}')
    assert body["size"] == Decimal("0.1") and isinstance(body["n"], int)
    row = {
        "tradeId": "125277182593091639",
        "orderId": "1",
        "symbol": "NDAU_USDT",
        "side": "sell",
        "price": "0.0125",
        "size": "0.000000001",
        "createTime": 1,
    }
    trade = parse_trade(row)
    with pytest.raises(TradeDataError, match="not a whole number of napu"):
        trade.napu()
    assert parse_trade({**row, "size": "12.30000000"}).napu() == 1_230_000_000
    with pytest.raises(TradeDataError, match="bad tradeId"):
        parse_trade({**row, "tradeId": 1.5})
    with pytest.raises(TradeDataError, match="unknown side"):
        parse_trade({**row, "side": "short"})
    # wider than the trades table's columns: a clear error, not PostgreSQL's on every poll
    with pytest.raises(TradeDataError, match="bad tradeId"):
        parse_trade({**row, "tradeId": "1" * 41})
    with pytest.raises(TradeDataError, match="bad tradeId"):
        parse_trade({**row, "tradeId": 10**41})
    with pytest.raises(TradeDataError, match="price has too many digits"):
        parse_trade({**row, "price": "0." + "1" * 70})
    assert parse_trade({**row, "tradeId": "9" * 40}).trade_id == "9" * 40
