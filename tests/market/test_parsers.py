"""Parsers against the recorded real responses in tests/data/captures/markets (units included)."""

from __future__ import annotations

import pytest

from backend.market import binance, bybit, deribit, okx
from backend.market.coingecko import parse_market_chart, parse_simple_price
from backend.market.mempool import parse_prices
from backend.providers.values import PayloadError
from tests.market.support import fixture_json

NOW = 1_800_000_000.0


def test_coingecko_simple_price_fixture() -> None:
    quote, as_of = parse_simple_price(fixture_json("coingecko_simple_price.json"), NOW)
    assert quote.price_usd == pytest.approx(67187.3358936566)
    assert quote.change_24h_pct == pytest.approx(3.63727894677354)  # a percent, kept as one
    assert quote.volume_24h_usd == pytest.approx(31260929299.5248)
    assert quote.market_cap_usd == pytest.approx(1317802988326.25)
    assert as_of == 1711356300  # last_updated_at is epoch seconds


def test_coingecko_change_may_be_null_and_never_becomes_zero() -> None:
    payload = {"bitcoin": {"usd": 65000.5, "usd_24h_change": None}}
    quote, as_of = parse_simple_price(payload, NOW)
    assert quote.change_24h_pct is None and quote.volume_24h_usd is None
    assert as_of == NOW  # no provider time: the time we received it


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"bitcoin": {}},
        {"bitcoin": {"usd": "n/a"}},
        {"bitcoin": {"usd": True}},
        {"bitcoin": {"usd": 1.0, "last_updated_at": 1711356300000}},  # ms where s is documented
        [1, 2],
    ],
)
def test_coingecko_rejects_malformed_answers(payload: object) -> None:
    with pytest.raises(PayloadError):
        parse_simple_price(payload, NOW)


def test_coingecko_market_chart_fixture_converts_ms_to_seconds() -> None:
    points = parse_market_chart(fixture_json("coingecko_market_chart.json"))
    assert [p.t for p in points] == [1711843200, 1711929600, 1711983682]
    assert points[0].price_usd == pytest.approx(69702.3087473573)


def test_binance_fixture_percent_strings_and_base_quote_volumes() -> None:
    ticker = binance.parse_ticker(fixture_json("binance_ticker_24hr.json"), symbol="BNBBTC")
    assert ticker.price == pytest.approx(4.000002)
    assert ticker.change_24h_pct == pytest.approx(-95.96)  # already a percent
    assert ticker.volume_24h_btc == pytest.approx(8913.3)  # base asset
    assert ticker.volume_24h_quote == pytest.approx(15.3)  # quote asset
    assert ticker.quote == "BTC"
    assert ticker.as_of == pytest.approx(1499869899.040)
    with pytest.raises(PayloadError, match="not BTCUSDT"):
        binance.parse_ticker(fixture_json("binance_ticker_24hr.json"))


def test_bybit_inverse_fixture_fraction_to_percent_and_swapped_volume_units() -> None:
    payload = fixture_json("bybit_v5_market_tickers_inverse_docs.json")
    ticker = bybit.parse_ticker(payload, symbol="BTCUSD")
    assert ticker.price == pytest.approx(120635.5)
    assert ticker.change_24h_pct == pytest.approx(14.2425)  # 0.142425 is a fraction
    assert ticker.volume_24h_btc == pytest.approx(115.6907)  # inverse: turnover is in BTC
    assert ticker.volume_24h_quote == pytest.approx(13713832.0)  # and volume in USD
    assert ticker.quote == "USD"
    assert ticker.as_of == pytest.approx(1760352369.814)


def test_bybit_spot_units_and_error_envelope() -> None:
    spot = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "category": "spot",
            "list": [
                {
                    "symbol": "BTCUSDT",
                    "lastPrice": "20533.13",
                    "price24hPcnt": "0.0068",
                    "turnover24h": "243765620.65899866",
                    "volume24h": "11801.27771",
                }
            ],
        },
        "time": 1673853746003,
    }
    ticker = bybit.parse_ticker(spot)
    assert ticker.change_24h_pct == pytest.approx(0.68)
    assert ticker.volume_24h_btc == pytest.approx(11801.27771)
    assert ticker.volume_24h_quote == pytest.approx(243765620.65899866)
    assert ticker.quote == "USDT"
    with pytest.raises(PayloadError, match="retCode 10001"):
        bybit.parse_ticker({"retCode": 10001, "retMsg": "bad", "result": {}, "time": 1})


def test_deribit_fixtures_jsonrpc_envelope() -> None:
    assert deribit.parse_index_price(fixture_json("deribit_get_index_price.json")) == 11628.81
    summary = deribit.parse_book_summary(
        fixture_json("deribit_get_book_summary_by_currency.json"), instrument="ETH-22FEB19-140-P"
    )
    assert summary["price"] == 0.34
    assert summary["change_24h_pct"] == pytest.approx(-26.7793594)
    assert summary["volume_base"] == 0.55
    assert summary["volume_usd"] is None  # absent: not invented from other fields
    assert summary["as_of"] == pytest.approx(1550227952.163)
    with pytest.raises(PayloadError, match="no summary for BTC-PERPETUAL"):
        deribit.parse_book_summary(fixture_json("deribit_get_book_summary_by_currency.json"))
    error = {"jsonrpc": "2.0", "error": {"message": "Invalid params", "code": -32602}}
    with pytest.raises(PayloadError, match="Invalid params"):
        deribit.parse_index_price(error)


def test_okx_change_is_derived_from_open24h() -> None:
    payload = {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instType": "SPOT",
                "instId": "BTC-USDT",
                "last": "101000.0",
                "open24h": "100000.0",
                "vol24h": "1200.5",
                "volCcy24h": "121250500.0",
                "bidPx": "100999.9",
                "askPx": "101000.1",
                "ts": "1700000000123",
            }
        ],
    }
    ticker = okx.parse_ticker(payload)
    assert ticker.change_24h_pct == pytest.approx(1.0)
    assert ticker.volume_24h_btc == pytest.approx(1200.5)
    assert ticker.volume_24h_quote == pytest.approx(121250500.0)
    assert ticker.as_of == pytest.approx(1700000000.123)
    with pytest.raises(PayloadError, match="51001"):
        okx.parse_ticker({"code": "51001", "msg": "Instrument ID does not exist", "data": []})


def test_mempool_prices_seconds_not_ms() -> None:
    quote, as_of = parse_prices({"time": 1703252411, "USD": 43753, "EUR": 40545}, NOW)
    assert quote.price_usd == 43753 and quote.change_24h_pct is None and as_of == 1703252411
    with pytest.raises(PayloadError):
        parse_prices({"time": 1703252411000, "USD": 43753}, NOW)
