"""Chain parsers against recorded real responses (tests/data/captures, providers' doc examples)."""

from __future__ import annotations

import pytest

from backend.chain import bitcoin_rpc, blockchain_info, mempool
from backend.chain.difficulty import estimate, next_retarget_height
from backend.providers.blockchain_info import stats_time
from backend.providers.values import PayloadError
from tests.market.support import fixture_json, fixture_text

# The example answer of https://api.blockchain.info/stats in blockchain.com's API documentation.
BLOCKCHAIN_INFO_STATS_DOC = {
    "timestamp": 1557646525000,
    "market_price_usd": 7292.97,
    "hash_rate": 44977500727.36728,
    "total_fees_btc": 11648437530,
    "n_btc_mined": 168750000000,
    "n_tx": 335667,
    "n_blocks_mined": 135,
    "minutes_between_blocks": 9.8507,
    "totalbc": 1769555000000000,
    "n_blocks_total": 575644,
    "estimated_transaction_volume_usd": 985067994.1395454,
    "blocks_size": 164076254,
    "miners_revenue_usd": 13156403.929531645,
    "nextretarget": 576575,
    "difficulty": 6702169884349,
    "estimated_btc_sent": 13507089623837,
    "miners_revenue_btc": 1803,
    "total_btc_sent": 112633530925902,
    "trade_volume_btc": 52607.99,
    "trade_volume_usd": 383668492.8303,
}


def test_blockchain_info_stats_units() -> None:
    stats = BLOCKCHAIN_INFO_STATS_DOC
    reading = blockchain_info.parse_network(stats)
    assert reading.hashrate_hs == pytest.approx(44977500727.36728 * 1e9)  # GH/s → H/s
    assert reading.difficulty == 6702169884349 and reading.tip_height == 575644
    fees = blockchain_info.parse_fees(stats)
    assert fees.avg_fees_per_block_btc == pytest.approx(116.4843753 / 135)  # satoshis → BTC
    assert fees.blocks == 135
    assert stats_time(stats, 2e9) == pytest.approx(1557646525.0)  # ms → s


def test_blockchain_info_price_has_no_change() -> None:
    from backend.market.blockchain_info import parse_price

    quote = parse_price(BLOCKCHAIN_INFO_STATS_DOC)
    assert quote.price_usd == 7292.97 and quote.change_24h_pct is None
    assert quote.volume_24h_usd == pytest.approx(383668492.8303)


def test_blockchain_info_adjustment_from_24h_mean_block_time() -> None:
    stats = BLOCKCHAIN_INFO_STATS_DOC
    adjustment = blockchain_info.parse_adjustment(stats, 1557646525.0)
    assert adjustment.next_retarget_height == 576576  # its nextretarget 576575 is the last block
    assert adjustment.remaining_blocks == 932
    assert adjustment.estimated_change_pct == pytest.approx((600 / (9.8507 * 60) - 1) * 100)
    assert adjustment.estimated_date == pytest.approx(1557646525.0 + 932 * 9.8507 * 60)
    broken = {**stats, "nextretarget": 580000}
    with pytest.raises(PayloadError, match="nextretarget"):
        blockchain_info.parse_adjustment(broken, 0)


def test_blockchain_info_block_count_is_text() -> None:
    assert blockchain_info.parse_block_count("875123\n") == 875123
    with pytest.raises(PayloadError):
        blockchain_info.parse_block_count("<html>")


def test_mempool_hashrate_fixture_h_per_s_and_seconds() -> None:
    series = mempool.parse_hashrate(fixture_json("mempool_mining_hashrate_3d.json"))
    assert series.current_hashrate_hs == pytest.approx(252033247355212300000)
    assert series.current_difficulty == pytest.approx(31251101365711.12)
    assert [p.t for p in series.points] == [1652486400, 1652572800, 1652659200]
    assert series.points[0].hashrate_hs == pytest.approx(236499762108771800000)


def test_mempool_difficulty_adjustment_fixture_mixed_ms_and_s() -> None:
    adjustment = mempool.parse_difficulty_adjustment(
        fixture_json("mempool_difficulty_adjustment.json")
    )
    assert adjustment.estimated_date == pytest.approx(1708004001.715)  # ms in the answer
    assert adjustment.avg_block_time_s == pytest.approx(553.311)  # timeAvg is ms
    assert adjustment.remaining_blocks == 565 and adjustment.next_retarget_height == 830592
    assert adjustment.estimated_change_pct == pytest.approx(8.512745140778843)
    assert adjustment.progress_pct == pytest.approx(71.97420634920636)


def test_mempool_tip_height_fixture_is_plain_text() -> None:
    assert mempool.parse_tip_height(fixture_text("mempool_blocks_tip_height.json")) == 698767


def test_mempool_blocks_doc_example_fees_in_satoshis() -> None:
    # The mainnet example of GET /api/v1/blocks in mempool.space's API documentation (trimmed).
    block = {
        "id": "0000000000000000000384f28cb3b9cf4377a39cfd6c29ae9466951de38c0529",
        "height": 730000,
        "timestamp": 1648829449,
        "tx_count": 1627,
        "size": 1210916,
        "extras": {
            "totalFees": 16321983,
            "medianFee": 11,
            "reward": 641321983,
            "pool": {"id": 105, "name": "Binance Pool", "slug": "binancepool"},
        },
    }
    (summary,) = mempool.parse_blocks([block])
    assert summary.total_fees_btc == pytest.approx(0.16321983)
    assert summary.reward_btc == pytest.approx(6.41321983)
    assert summary.pool == "Binance Pool" and summary.timestamp == 1648829449
    sample = mempool.fees_from_blocks([summary])
    assert sample.avg_fees_per_block_btc == pytest.approx(0.16321983) and sample.blocks == 1
    with pytest.raises(PayloadError):
        mempool.parse_blocks([{**block, "timestamp": 1648829449000}])


def test_node_rpc_reply_and_network_reading() -> None:
    assert bitcoin_rpc.parse_rpc_reply({"result": 5, "error": None, "id": 1}, "getblockcount") == 5
    assert bitcoin_rpc.parse_rpc_reply({"jsonrpc": "2.0", "result": 7, "id": 1}, "x") == 7
    with pytest.raises(PayloadError, match="Method not found"):
        bitcoin_rpc.parse_rpc_reply(
            {"result": None, "error": {"code": -32601, "message": "Method not found"}}, "x"
        )
    reading, as_of = bitcoin_rpc.parse_network(
        {"blocks": 905000, "difficulty": 1.1e14, "time": 1750000000, "mediantime": 1749999000},
        {"networkhashps": 8.1e20, "blocks": 905000},
    )
    assert (reading.tip_height, reading.hashrate_hs, as_of) == (905000, 8.1e20, 1750000000)


def test_node_url_credentials_never_reach_targets() -> None:
    clean, headers = bitcoin_rpc.split_credentials("http://alice:p%40ss@10.0.0.5:8332/")
    assert clean == "http://10.0.0.5:8332/" and headers["Authorization"].startswith("Basic ")
    assert bitcoin_rpc.public_target("https://rpc.ankr.com/btc/0123secretkey") == (
        "https://rpc.ankr.com/…"
    )
    assert "alice" not in bitcoin_rpc.public_target("http://alice:x@10.0.0.5:8332")


def test_retarget_estimate_arithmetic() -> None:
    assert next_retarget_height(905_000) == 905_184
    assert next_retarget_height(903_168) == 905_184  # a retarget height starts a period
    adjustment = estimate(905_000, 580.0, 1_750_000_000.0, "test")
    assert adjustment.remaining_blocks == 184
    assert adjustment.estimated_change_pct == pytest.approx((600 / 580 - 1) * 100)
    assert adjustment.estimated_date == pytest.approx(1_750_000_000 + 184 * 580)
    node = bitcoin_rpc.estimate_adjustment(905_000, 1_750_000_000.0, 1_750_000_000.0 - 1832 * 590)
    assert node.avg_block_time_s == pytest.approx(590.0)
    with pytest.raises(PayloadError):
        bitcoin_rpc.estimate_adjustment(903_168, 1.0, 0.0)
