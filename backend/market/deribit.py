"""Deribit `public/get_index_price` and `public/get_book_summary_by_currency` (JSON-RPC over GET).

Wire facts (Deribit API v2 docs): answers are a JSON-RPC envelope
`{"jsonrpc": "2.0", "result": ...}` or `{"error": {"code", "message"}}`; `index_price` is USD;
in the book summary `price_change` is a 24 h percent, `volume` is in the base currency (BTC for
BTC futures), `volume_usd` in USD, and `creation_timestamp` is epoch ms. The venue price is the
last trade of BTC-PERPETUAL; the index (a composite of other exchanges) is reported next to it,
never mixed into the aggregate.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.core.http import ProviderClient
from backend.market.models import VenueTicker
from backend.providers.values import PayloadError, num, obj, opt_num, rejected, seconds_from_ms

NAME = "deribit"
INSTRUMENT = "BTC-PERPETUAL"


def rpc_result(payload: Any, method: str) -> Any:
    where = f"deribit {method}"
    envelope = obj(payload, where)
    error = envelope.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise PayloadError(f"{where}: error {str(message)[:80]}")
    if "result" not in envelope:
        raise PayloadError(f"{where}: no 'result' in the JSON-RPC envelope")
    return envelope["result"]


def parse_index_price(payload: Any) -> float:
    result = obj(rpc_result(payload, "get_index_price"), "deribit get_index_price.result")
    return num(result, "index_price", "deribit get_index_price")


def parse_book_summary(payload: Any, instrument: str = INSTRUMENT) -> dict[str, Any]:
    """The one instrument's summary, normalised (units in the keys)."""
    where = "deribit get_book_summary_by_currency"
    rows = rpc_result(payload, "get_book_summary_by_currency")
    if not isinstance(rows, list):
        raise PayloadError(f"{where}: 'result' is not a list")
    named = (r for r in rows if isinstance(r, dict) and r.get("instrument_name") == instrument)
    row = next(named, None)
    if row is None:
        raise PayloadError(f"{where}: no summary for {instrument}")
    last = opt_num(row, "last", where)
    mark = opt_num(row, "mark_price", where)
    price = last if last is not None else mark
    if price is None:
        raise PayloadError(f"{where}: {instrument} has neither 'last' nor 'mark_price'")
    return {
        "price": price,
        "change_24h_pct": opt_num(row, "price_change", where),
        "volume_base": opt_num(row, "volume", where),
        "volume_usd": opt_num(row, "volume_usd", where),
        "bid": opt_num(row, "bid_price", where),
        "ask": opt_num(row, "ask_price", where),
        "quote": str(row.get("quote_currency") or "USD"),
        "as_of": seconds_from_ms(
            num(row, "creation_timestamp", where), f"{where}.creation_timestamp"
        ),
    }


def to_ticker(summary: dict[str, Any], index_price: float | None) -> VenueTicker:
    return VenueTicker(
        venue=NAME,
        instrument=INSTRUMENT,
        quote=summary["quote"],
        price=summary["price"],
        change_24h_pct=summary["change_24h_pct"],
        volume_24h_btc=summary["volume_base"],
        volume_24h_quote=summary["volume_usd"],
        bid=summary["bid"],
        ask=summary["ask"],
        as_of=summary["as_of"],
        index_price_usd=index_price,
    )


async def fetch(provider: ProviderClient) -> VenueTicker:
    index_payload, book_payload = await asyncio.gather(
        provider.get_json("/public/get_index_price", params={"index_name": "btc_usd"}),
        provider.get_json(
            "/public/get_book_summary_by_currency", params={"currency": "BTC", "kind": "future"}
        ),
    )
    try:
        index_price = parse_index_price(index_payload)
        return to_ticker(parse_book_summary(book_payload), index_price)
    except PayloadError as exc:
        raise rejected(provider, str(exc)) from None
