"""The chain service against the loopback simulators: network fallback, guard, adjustment, fees,
blocks, hashprice and the node's credentials, over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend.chain.hashprice import compute
from backend.chain.service import ChainService, ChainUnavailable
from backend.core.clock import ManualClock
from backend.market.service import MarketService
from backend.sim.http_server import Fault
from backend.sim.markets import MarketSimulator
from tests.market.support import Harness, market_settings, running_sim


def advance(harness: Harness, seconds: float = 10.0) -> None:
    """Rounds are seconds apart in real life (blockchain.info /stats is reused for 5 s)."""
    assert isinstance(harness.clock, ManualClock)
    harness.clock.advance(seconds)


async def down(sim: MarketSimulator, *names: str) -> None:
    for name in names:
        sim.server(name).set_fault(Fault.DOWN)
        await sim.server(name).settle()


async def test_network_stats_fall_back_across_providers_then_cache(
    harness: Harness, sim: MarketSimulator
) -> None:
    chain = ChainService(harness.context)
    await chain.poll_network()
    stats = chain.stats()
    assert stats["source"] == "blockchain_info" and stats["stale"] is False
    assert 100 < stats["hashrate_ehs"] < 10_000  # H/s → EH/s, from GH/s on the wire
    assert stats["tip_height"] == sim.chain.tip_height
    assert stats["fallback_order"] == ["blockchain_info", "mempool", "bitcoin_rpc"]

    await down(sim, "blockchain_info")
    advance(harness)
    await chain.poll_network()
    assert chain.stats()["source"] == "mempool"

    sim.server("mempool").set_fault(Fault.HTTP_500)
    advance(harness)
    await chain.poll_network()
    stats = chain.stats()
    assert stats["source"] == "bitcoin_rpc" and stats["stale"] is False
    assert stats["next_adjustment"]["source"] == "bitcoin_rpc"
    assert stats["next_adjustment"]["method"].startswith("node")

    sim.server("bitcoin_rpc").set_fault(Fault.MALFORMED)
    advance(harness, 120)
    await chain.poll_network()
    stats = chain.stats()
    assert stats["via"] == "cache" and stats["stale"] is True and stats["age_s"] >= 120
    assert stats["source"] == "bitcoin_rpc"


async def test_hashrate_off_by_1e9_is_rejected_and_logged(
    harness: Harness, sim: MarketSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.server("blockchain_info").set_fault(Fault.ABSURD)  # GH/s × 10^9
    chain = ChainService(harness.context)
    await chain.poll_network()
    stats = chain.stats()
    assert stats["source"] == "mempool"
    assert stats["attempts"][0]["source"] == "blockchain_info"
    assert "rejected" in (stats["attempts"][0]["error"] or "")
    assert "absurd network stats" in harness.integration("blockchain_info")["last_error"]
    logged = [r.getMessage() for r in caplog.records]
    assert any("network stats from blockchain_info rejected" in line for line in logged)


async def test_next_adjustment_prefers_mempool_then_estimates(
    harness: Harness, sim: MarketSimulator
) -> None:
    chain = ChainService(harness.context)
    await chain.poll_network()
    adjustment = chain.stats()["next_adjustment"]
    assert adjustment["source"] == "mempool"
    assert adjustment["next_retarget_height"] % 2016 == 0
    target = adjustment["next_retarget_height"]
    assert adjustment["remaining_blocks"] == target - sim.chain.tip_height
    assert -10 < adjustment["estimated_change_pct"] < 10
    assert adjustment["estimated_date"] > harness.clock.time()
    sim.server("mempool").set_fault(Fault.HTTP_500)
    advance(harness)
    await chain.poll_network()
    fallback = chain.stats()["next_adjustment"]
    assert fallback["source"] == "blockchain_info" and "24 h mean" in fallback["method"]
    assert fallback["next_retarget_height"] == adjustment["next_retarget_height"]


async def test_hashprice_shows_every_input_and_matches_the_formula(
    harness: Harness, sim: MarketSimulator
) -> None:
    market = MarketService(harness.context)
    chain = ChainService(harness.context, market)
    await market.poll_price()
    await chain.poll_network()
    stats = chain.stats()
    hashprice = stats["hashprice"]
    inputs = hashprice["inputs"]
    assert inputs["price_usd"]["source"] == "coingecko"
    assert inputs["network_hashrate_hs"]["source"] == "blockchain_info"
    assert inputs["avg_fees_per_block_btc"]["source"] == "mempool"
    assert inputs["avg_fees_per_block_btc"]["blocks"] == 15
    expected = compute(
        inputs["price_usd"]["value"],
        inputs["network_hashrate_hs"]["value"],
        inputs["tip_height"]["value"],
        inputs["avg_fees_per_block_btc"]["value"],
    )
    assert stats["hashprice_usd_per_th_day"] == pytest.approx(expected.usd_per_th_day)
    assert 0.01 < stats["hashprice_usd_per_th_day"] < 0.2  # plausible USD/TH/day
    assert hashprice["block_subsidy_btc"] == 3.125 and "blocks_per_day" in hashprice["formula"]
    assert hashprice["stale"] is False and stats["hashprice_unavailable"] is None


async def test_no_price_means_no_hashprice_and_says_why(harness: Harness) -> None:
    chain = ChainService(harness.context, market=None)
    await chain.poll_network()
    stats = chain.stats()
    assert stats["hashprice"] is None and stats["hashprice_usd_per_th_day"] is None
    assert stats["hashprice_unavailable"] == "no BTC price available"


async def test_new_blocks_are_published_on_the_blocks_channel(
    harness: Harness, sim: MarketSimulator
) -> None:
    chain = ChainService(harness.context)
    subscription = harness.bus.subscribe({"blocks"})
    await chain.poll_blocks()
    first = chain.blocks()
    assert len(first.blocks) == 15 and first.blocks[0].height == sim.chain.tip_height
    assert first.source == "mempool" and first.stale is False
    with pytest.raises(TimeoutError):  # the first fetch is a snapshot, not news
        await asyncio.wait_for(subscription.get(), 0.05)
    mined = sim.chain.mine_block()
    await chain.poll_blocks()
    event = await asyncio.wait_for(subscription.get(), 2)
    assert event.type == "block.new" and event.data["height"] == mined.height
    assert event.data["hash"] == mined.hash and event.data["total_fees_btc"] > 0
    assert chain.blocks().blocks[0].height == mined.height


async def test_blocks_survive_a_mempool_outage_as_stale(
    harness: Harness, sim: MarketSimulator
) -> None:
    chain = ChainService(harness.context)
    await chain.poll_blocks()
    sim.chain.mine_block()
    sim.server("mempool").set_fault(Fault.HTTP_500)
    await chain.poll_blocks()  # the tip comes from blockchain.info; the block list cannot
    blocks = chain.blocks()
    assert blocks.via == "cache" and blocks.stale is True
    assert "HTTP 500" in (blocks.error or "")


async def test_hashrate_history_from_mempool(harness: Harness, sim: MarketSimulator) -> None:
    chain = ChainService(harness.context)
    history = await chain.hashrate_history("1m")
    assert len(history.points) == 30 and history.source == "mempool"
    assert 100 < history.points[-1].hashrate_ehs < 10_000
    with pytest.raises(ValueError):
        await chain.hashrate_history("5y")
    calls = len(sim.server("mempool").requests)
    await asyncio.gather(chain.hashrate_history("1m"), chain.hashrate_history("1m"))
    assert len(sim.server("mempool").requests) == calls  # cached
    sim.server("mempool").set_fault(Fault.HTTP_500)
    advance(harness, harness.context.settings.history_cache_s + 1)
    stale = await chain.hashrate_history("1m")
    assert stale.via == "cache" and stale.stale is True and "HTTP 500" in stale.error
    with pytest.raises(ChainUnavailable, match="no hashrate history"):
        await chain.hashrate_history("3m")


async def test_node_credentials_are_sent_and_never_shown(tmp_path: Path) -> None:
    async for sim in running_sim(rpc_auth=("alice", "s3cret")):
        harness = Harness(market_settings(tmp_path, sim, network_sources=["bitcoin_rpc"]))
        try:
            chain = ChainService(harness.context)
            await chain.poll_network()
            assert chain.stats()["source"] == "bitcoin_rpc"
            health = str(harness.health.snapshot())
            assert "s3cret" not in health and "alice" not in health
        finally:
            await harness.aclose()
        url = sim.settings_overrides()["bitcoin_rpc_url"].get_secret_value()
        wrong = url.replace("s3cret", "x")
        harness = Harness(
            market_settings(tmp_path, sim, network_sources=["bitcoin_rpc"], bitcoin_rpc_url=wrong)
        )
        try:
            chain = ChainService(harness.context)
            await chain.poll_network()
            with pytest.raises(ChainUnavailable, match="node refused the credentials"):
                chain.stats()
            assert "x@" not in str(harness.health.snapshot())
        finally:
            await harness.aclose()


async def test_without_a_node_url_the_node_is_shown_disabled(
    tmp_path: Path, sim: MarketSimulator
) -> None:
    settings = market_settings(tmp_path, sim).model_copy(update={"bitcoin_rpc_url": None})
    harness = Harness(settings)
    try:
        chain = ChainService(harness.context)
        node = harness.integration("bitcoin_rpc")
        assert node["status"] == "disabled" and "ANKR_RPC_URL" in node["detail"]
        assert chain.stats_chain is not None
        assert [s.name for s in chain.stats_chain.sources] == ["blockchain_info", "mempool"]
    finally:
        await harness.aclose()


async def test_network_update_is_published_and_loops_stop_quickly(
    harness: Harness, sim: MarketSimulator
) -> None:
    subscription = harness.bus.subscribe({"network"})
    chain = ChainService(harness.context)
    await chain.start()
    event = await asyncio.wait_for(subscription.get(), 3)
    assert event.type == "network.update" and event.data["source"] == "blockchain_info"
    await asyncio.wait_for(chain.stop(), 1.0)
