"""The chain service: network stats, next difficulty adjustment, fees, blocks and hashprice.

Each quantity has its own fallback chain (see `backend.providers.fallback`), ordered by
`network_sources` (blockchain.info, mempool.space, the node when configured) except where one
provider has the better instrument (mempool.space's difficulty-adjustment endpoint and per-block
fees come first for those two). Publishes `network.update` on `network` after every network round
and `block.new` on `blocks` for every block seen after the first fetch. Polls only in the process
that holds the providers' lease (the market service's `leader`); another follows the shared values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from backend.chain.bitcoin_rpc import BitcoinRpcClient, public_target, split_credentials
from backend.chain.blockchain_info import BlockchainInfoClient
from backend.chain.hashprice import FORMULA, compute
from backend.chain.mempool import (
    HASHRATE_PERIOD_DAYS,
    HASHRATE_PERIODS,
    MempoolClient,
    fees_from_blocks,
)
from backend.chain.models import BlockSummary, FeeSample, NetworkReading, NextAdjustment
from backend.core.http import ProviderClient, ProviderError
from backend.core.service import ServiceContext
from backend.core.shared_state import RedisSharedCache, RedisStore, open_shared_cache
from backend.providers.fallback import ChainResult, FallbackChain, Guard, Source
from backend.providers.guard import (
    Anchor,
    GuardLimits,
    check_difficulty,
    check_fees_per_block,
    check_hashrate,
    check_hashrate_vs_difficulty,
    check_tip,
)
from backend.providers.history import HistoryCache
from backend.providers.leader import ProviderLeader, fresh_window_s
from backend.providers.polling import cancel_all, run_every
from backend.providers.values import PayloadError, Reading, Via, freshness, rejected
from hashinsight_contract.events import NewBlock
from hashinsight_contract.market import AttemptOut, Freshness
from hashinsight_contract.network import (
    AdjustmentOut,
    BlockOut,
    BlocksOut,
    FeesOut,
    HashpriceOut,
    HashrateHistory,
    HashratePointOut,
    InputOut,
    NetworkStats,
    TipOut,
)

T = TypeVar("T")
log = logging.getLogger("hashinsight.chain")
EH = 1e18
IMPLIED_HASHRATE_MAX_RATIO = 4.0
RPC_HINT = "no node configured: set ANKR_RPC_URL (or HASHINSIGHT_BITCOIN_RPC_URL) to add it"


class ChainUnavailable(Exception):
    """No value at all can be given (never fetched, or disabled); the message says why."""


class PriceSource(Protocol):
    """What the chain takes from the market service: its providers' lease and the BTC price
    (a `Reading` of a quote with `price_usd`) for hashprice."""

    leader: ProviderLeader

    def price_reading(self) -> tuple[Reading[Any], Via] | None: ...


class ChainService:
    name: ClassVar[str] = "chain"
    channels: ClassVar[frozenset[str]] = frozenset({"network", "blocks"})

    def __init__(self, context: ServiceContext, market: PriceSource | None = None) -> None:
        settings = context.settings
        self.settings = settings
        self.bus = context.bus
        self.clock = context.clock
        self.market = market
        self.enabled = settings.market_enabled
        self.limits = GuardLimits(
            price_max_jump_pct=settings.price_max_jump_pct,
            hashrate_max_ratio=settings.hashrate_max_ratio,
            reset_after_s=settings.guard_reset_after_s,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._blocks: Reading[list[BlockSummary]] | None = None
        self._blocks_via: Via = "none"
        self._blocks_error: str | None = None
        self._published_height: int | None = None
        self._hashrate: HistoryCache[tuple[float, float]] = HistoryCache(
            HASHRATE_PERIODS,
            context.clock,
            settings.history_cache_s,
            fetch=self._fetch_hashrate,
            recorded=self._recorded_hashrate,
            unavailable=lambda why: ChainUnavailable(f"no hashrate history: {why}"),
        )
        self.leader = (
            market.leader
            if market is not None
            else ProviderLeader(context.db, self.clock, context.health, shared=False, ttl_s=60.0)
        )
        self.recorder = self.leader.recorder(context)
        self.rpc: BitcoinRpcClient | None = None
        self.mempool: MempoolClient | None = None
        self.blockchain_info: BlockchainInfoClient | None = None
        self.stats_chain: FallbackChain[NetworkReading] | None = None
        self.adjustment_chain: FallbackChain[NextAdjustment] | None = None
        self.fees_chain: FallbackChain[FeeSample] | None = None
        self.tip_chain: FallbackChain[int] | None = None
        self._shared: RedisSharedCache | None = None
        self._shared_store: RedisStore | None = None
        health = context.health
        rpc_url = settings.bitcoin_rpc_url.get_secret_value() if settings.bitcoin_rpc_url else ""
        if not self.enabled:
            for name, url in (
                ("blockchain_info", settings.blockchain_info_url),
                ("mempool", settings.mempool_url),
            ):
                health.register(name, "http", url, status="disabled")
                health.set_status(name, "disabled", "market_enabled is false: not polled")
            health.register("bitcoin_rpc", "rpc", public_target(rpc_url) if rpc_url else "—")
            health.set_status("bitcoin_rpc", "disabled", "market_enabled is false: not polled")
            return
        http = context.http
        retries = settings.market_retries
        wanted = set(settings.network_sources)
        self.blockchain_info = BlockchainInfoClient(
            http.provider("blockchain_info", settings.blockchain_info_url, retries=retries),
            self.clock,
        )
        self.mempool = MempoolClient(
            http.provider("mempool", settings.mempool_url, retries=retries), self.clock
        )
        if rpc_url and "bitcoin_rpc" in wanted:
            clean, auth = split_credentials(rpc_url)
            health.register("bitcoin_rpc", "rpc", public_target(rpc_url))  # never the full URL
            provider = http.provider("bitcoin_rpc", clean, kind="rpc", headers=auth, retries=0)
            self.rpc = BitcoinRpcClient(provider, self.clock)
        else:
            detail = RPC_HINT if not rpc_url else "not in network_sources"
            health.register("bitcoin_rpc", "rpc", public_target(rpc_url) if rpc_url else "—")
            health.set_status("bitcoin_rpc", "disabled", detail)
        self.leader.follows(("blockchain_info", "mempool", "bitcoin_rpc"))
        bci, mempool, rpc = self.blockchain_info, self.mempool, self.rpc
        stats: dict[str, Source[NetworkReading]] = {
            "blockchain_info": _source("blockchain_info", bci.network, bci.provider),
            "mempool": _source("mempool", mempool.network, mempool.provider),
        }
        adjustment: dict[str, Source[NextAdjustment]] = {
            "mempool": _source("mempool", mempool.adjustment, mempool.provider),
            "blockchain_info": _source("blockchain_info", bci.adjustment, bci.provider),
        }
        tips: dict[str, Source[int]] = {
            "mempool": _source("mempool", mempool.tip_height, mempool.provider),
            "blockchain_info": _source("blockchain_info", bci.block_count, bci.provider),
        }
        fees: dict[str, Source[FeeSample]] = {
            "mempool": _source("mempool", self._mempool_fees, mempool.provider),
            "blockchain_info": _source("blockchain_info", bci.fees, bci.provider),
        }
        if rpc is not None:
            stats["bitcoin_rpc"] = _source("bitcoin_rpc", rpc.network, rpc.provider)
            adjustment["bitcoin_rpc"] = _source("bitcoin_rpc", rpc.adjustment, rpc.provider)
            tips["bitcoin_rpc"] = _source("bitcoin_rpc", rpc.tip_height, rpc.provider)
        # --- shared state (redis) --- last good values shared by every instance
        shared = open_shared_cache(settings.redis_url, health, "chain", self.clock)
        if shared is not None:
            self._shared, self._shared_store = shared
        order = list(settings.network_sources)
        better_first = ["mempool"] + [name for name in order if name != "mempool"]
        self.stats_chain = self._chain(
            "network stats", order, stats, self._guard_stats, lambda d: NetworkReading(**d)
        )
        self.adjustment_chain = self._chain(
            "next adjustment", better_first, adjustment, None, lambda d: NextAdjustment(**d)
        )
        self.fees_chain = self._chain(
            "fees per block", better_first, fees, self._guard_fees, lambda d: FeeSample(**d)
        )
        self.tip_chain = self._chain("tip height", better_first, tips, self._guard_tip, int)

    def _chain(
        self,
        quantity: str,
        order: list[str],
        table: Mapping[str, Source[T]],
        guard: Guard[T] | None,
        decode: Callable[[Any], T],
    ) -> FallbackChain[T] | None:
        sources = [table[name] for name in order if name in table]
        if not sources:
            return None
        return FallbackChain(
            quantity, sources, self.clock, guard, shared=self._shared, decode=decode
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not self.enabled:
            return
        settings = self.settings
        self._tasks = [
            asyncio.create_task(
                run_every(settings.network_poll_s, self.poll_network, "network"),
                name="chain-network",
            ),
            asyncio.create_task(
                run_every(settings.blocks_poll_s, self.poll_blocks, "blocks"), name="chain-blocks"
            ),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self._shared_store is not None:
            await self._shared_store.close()

    # ------------------------------------------------------------------ guards

    def _guard_stats(
        self, reading: NetworkReading, last: Reading[NetworkReading] | None, now: float
    ) -> str | None:
        reason = check_difficulty(reading.difficulty) or check_hashrate_vs_difficulty(
            reading.hashrate_hs, reading.difficulty, IMPLIED_HASHRATE_MAX_RATIO
        )
        if reason:
            return reason
        anchor = Anchor(last.value.hashrate_hs, last.source, last.fetched_at) if last else None
        reason = check_hashrate(reading.hashrate_hs, anchor, now, self.limits)
        if reason:
            return reason
        tip = Anchor(float(last.value.tip_height), last.source, last.fetched_at) if last else None
        return check_tip(reading.tip_height, tip, now, self.limits)

    def _guard_tip(self, height: int, last: Reading[int] | None, now: float) -> str | None:
        anchor = Anchor(float(last.value), last.source, last.fetched_at) if last else None
        return check_tip(height, anchor, now, self.limits)

    def _guard_fees(
        self, sample: FeeSample, _last: Reading[FeeSample] | None, _now: float
    ) -> str | None:
        return check_fees_per_block(sample.avg_fees_per_block_btc)

    # ------------------------------------------------------------------ polls

    async def poll_network(self) -> NetworkStats | None:
        assert self.stats_chain is not None
        if not self.leader.polls:
            return await self._follow_network()
        await self.stats_chain.fetch()
        for chain in (self.adjustment_chain, self.fees_chain):
            if chain is not None:
                await chain.fetch()
        snapshot = self._stats_or_none()
        if snapshot is not None:
            self.bus.emit("network.update", snapshot)
            await self._record(snapshot)
        for idle in (self.stats_chain, self.adjustment_chain, self.fees_chain, self.tip_chain):
            if idle is not None:
                await idle.probe_idle(self.settings.fallback_probe_s)
        return snapshot

    async def _follow_network(self) -> NetworkStats | None:
        """The polling process's values (it publishes the update; Redis brings it here)."""
        fresh = fresh_window_s(self.settings.network_poll_s)
        for chain in (self.stats_chain, self.adjustment_chain, self.fees_chain):
            if chain is not None:
                await chain.follow(fresh)
        return self._stats_or_none()

    def _stats_or_none(self) -> NetworkStats | None:
        try:
            return self.network_stats()
        except ChainUnavailable:
            return None

    async def _record(self, snapshot: NetworkStats) -> None:
        if snapshot.via != "live":
            return  # a cached value is never recorded as a new sample
        per_th = snapshot.hashprice_usd_per_th_day
        values = {
            "network_hashrate": snapshot.hashrate_ehs,
            "difficulty": snapshot.difficulty,
            "hashprice": per_th * 1000 if per_th is not None else None,
        }
        await self.recorder.record(values, snapshot.source, snapshot.as_of)

    async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The report's chain section: difficulty, hashrate and hashprice over the period."""
        a, b = start.timestamp(), end.timestamp()
        return {
            "difficulty": await self.recorder.summary("difficulty", a, b),
            "network_hashrate_ehs": await self.recorder.summary("network_hashrate", a, b),
            "hashprice_usd_per_ph_day": await self.recorder.summary("hashprice", a, b),
            "hashprice_formula": FORMULA,
        }

    async def poll_blocks(self) -> None:
        if self.tip_chain is None:
            return
        if not self.leader.polls:
            await self.tip_chain.follow(fresh_window_s(self.settings.blocks_poll_s))
            await self._follow_blocks()
            return
        try:
            await self._poll_blocks(self.tip_chain)
        finally:
            await self._share_blocks()

    async def _poll_blocks(self, tip_chain: FallbackChain[int]) -> None:
        result = await tip_chain.fetch()
        if result.via != "live" or result.reading is None or self.mempool is None:
            return
        known = self._blocks.value[0].height if self._blocks and self._blocks.value else None
        if known == result.reading.value and self._blocks_via == "live":
            return
        try:
            blocks = await self.mempool.blocks()
        except ProviderError as exc:
            self._blocks_via, self._blocks_error = ("cache" if self._blocks else "none"), str(exc)
            return
        self._store_blocks(blocks)

    async def _share_blocks(self) -> None:
        """Every round, so the others can tell "no new block" from "nobody polls"."""
        if self._shared is None or not self.leader.shared or self._blocks is None:
            return
        entry = {
            "blocks": [block.to_dict() for block in self._blocks.value],
            "fetched_at": self._blocks.fetched_at,
            "via": self._blocks_via,
            "error": self._blocks_error,
            "shared_at": self.clock.time(),
        }
        await self._shared.set("blocks", entry, 86_400.0)

    async def _follow_blocks(self) -> None:
        entry = await self._shared.get("blocks") if self._shared is not None else None
        if not isinstance(entry, dict):
            return
        try:
            blocks = [BlockSummary(**item) for item in entry["blocks"]]
            fetched_at, shared_at = float(entry["fetched_at"]), float(entry["shared_at"])
            via = entry["via"] if entry["via"] in ("live", "cache") else "cache"
            error = entry.get("error")
        except (KeyError, TypeError, ValueError):  # written by another version
            return
        if self.clock.time() - shared_at > fresh_window_s(self.settings.blocks_poll_s):
            via = "cache"
        self._blocks = Reading(blocks, "mempool", fetched_at, fetched_at)
        self._blocks_via, self._blocks_error = via, error

    async def _mempool_fees(self) -> tuple[FeeSample, float]:
        assert self.mempool is not None
        fresh = self._blocks is not None and self._blocks_via == "live"
        if fresh and self._blocks is not None:
            age = self.clock.time() - self._blocks.fetched_at
            fresh = age < self.settings.network_poll_s
        if not fresh:
            self._store_blocks(await self.mempool.blocks())
        assert self._blocks is not None
        try:
            return fees_from_blocks(self._blocks.value), self._blocks.fetched_at
        except PayloadError as exc:
            raise rejected(self.mempool.provider, str(exc)) from None

    def _store_blocks(self, blocks: list[BlockSummary]) -> None:
        now = self.clock.time()
        self._blocks = Reading(blocks, "mempool", now, now)
        self._blocks_via, self._blocks_error = "live", None
        if not blocks:
            return
        top = blocks[0].height
        if self._published_height is not None:
            for block in sorted(blocks, key=lambda b: b.height):
                if block.height > self._published_height:
                    new = NewBlock(**block.to_dict(), source="mempool", as_of=now)
                    self.bus.emit("block.new", new)
        self._published_height = max(top, self._published_height or 0)

    # ------------------------------------------------------------------ snapshots

    def _require(self) -> FallbackChain[NetworkReading]:
        if not self.enabled or self.stats_chain is None:
            raise ChainUnavailable("network data is disabled (market_enabled is false)")
        return self.stats_chain

    def stats(self) -> dict[str, Any]:
        """`network_stats` as the plain dict the fleet reads hashprice from."""
        return _as_dict(self.network_stats())

    def network_stats(self) -> NetworkStats:
        chain = self._require()
        result = chain.last_result
        if result.reading is None:
            why = result.errors() or "no network stats fetched yet"
            raise ChainUnavailable(f"no network stats from any provider: {why}")
        now = self.clock.time()
        stale_after = self.settings.network_stale_after_s
        reading = result.reading
        tip = self._best_tip(reading, result.via, now)
        hashprice, why_not = self._hashprice(reading, result.via, tip, now)
        return NetworkStats(
            hashrate_hs=reading.value.hashrate_hs,
            hashrate_ehs=reading.value.hashrate_hs / EH,
            difficulty=reading.value.difficulty,
            tip_height=tip.height,
            **freshness(reading, result.via, now, stale_after),
            attempts=[AttemptOut(source=a.source, ok=a.ok, error=a.error) for a in result.attempts],
            fallback_order=[s.name for s in chain.sources],
            tip=tip,
            next_adjustment=self._adjustment(now),
            fees=self._fees(now),
            hashprice_usd_per_th_day=hashprice.usd_per_th_day if hashprice else None,
            hashprice=hashprice,
            hashprice_unavailable=why_not,
        )

    def _best_tip(self, stats: Reading[NetworkReading], via: Via, now: float) -> TipOut:
        stale_after = self.settings.network_stale_after_s
        tips = self.tip_chain.last_result if self.tip_chain else None
        best = tips.reading if tips is not None else None
        if tips is not None and best is not None and best.value > stats.value.tip_height:
            return TipOut(height=best.value, **freshness(best, tips.via, now, stale_after))
        return TipOut(height=stats.value.tip_height, **freshness(stats, via, now, stale_after))

    def _adjustment(self, now: float) -> AdjustmentOut | None:
        if self.adjustment_chain is None:
            return None
        result = self.adjustment_chain.last_result
        if result.reading is None:
            return None
        stale_after = self.settings.network_stale_after_s
        value = result.reading.value
        return AdjustmentOut(
            estimated_change_pct=value.estimated_change_pct,
            remaining_blocks=value.remaining_blocks,
            estimated_date=value.estimated_date,
            next_retarget_height=value.next_retarget_height,
            progress_pct=value.progress_pct,
            avg_block_time_s=value.avg_block_time_s,
            method=value.method,
            **freshness(result.reading, result.via, now, stale_after),
        )

    def _fees(self, now: float) -> FeesOut | None:
        if self.fees_chain is None or self.fees_chain.last_result.reading is None:
            return None
        result = self.fees_chain.last_result
        assert result.reading is not None
        sample = result.reading.value
        return FeesOut(
            avg_fees_per_block_btc=sample.avg_fees_per_block_btc,
            blocks=sample.blocks,
            **freshness(result.reading, result.via, now, self.settings.network_stale_after_s),
        )

    def _hashprice(
        self, stats: Reading[NetworkReading], via: Via, tip: TipOut, now: float
    ) -> tuple[HashpriceOut | None, str | None]:
        """Hashprice with every input shown (value, source, age); None and why when impossible."""
        price = self.market.price_reading() if self.market is not None else None
        if price is None:
            return None, "no BTC price available"
        fees = self._fees(now)
        if fees is None:
            why = self.fees_chain.last_result.errors() if self.fees_chain else "no fee source"
            return None, f"no fee data: {why or 'not fetched yet'}"
        price_reading, price_via = price
        value = compute(
            price_reading.value.price_usd,
            stats.value.hashrate_hs,
            tip.height,
            fees.avg_fees_per_block_btc,
        )
        network_stale = self.settings.network_stale_after_s
        inputs = {
            "price_usd": InputOut(
                value=price_reading.value.price_usd,
                **freshness(price_reading, price_via, now, self.settings.price_stale_after_s),
            ),
            "network_hashrate_hs": InputOut(
                value=stats.value.hashrate_hs, **freshness(stats, via, now, network_stale)
            ),
            "tip_height": InputOut(value=tip.height, **_fresh(tip)),
            "avg_fees_per_block_btc": InputOut(
                value=fees.avg_fees_per_block_btc, blocks=fees.blocks, **_fresh(fees)
            ),
        }
        return HashpriceOut(
            **value.to_dict(),
            formula=FORMULA,
            inputs=inputs,
            source="computed",
            as_of=min(item.as_of for item in inputs.values()),
            stale=any(item.stale for item in inputs.values()),
        ), None

    def blocks(self) -> BlocksOut:
        self._require()
        if self._blocks is None:
            raise ChainUnavailable(f"no blocks fetched yet: {self._blocks_error or 'waiting'}")
        now = self.clock.time()
        return BlocksOut(
            blocks=[BlockOut(**block.to_dict()) for block in self._blocks.value],
            **freshness(self._blocks, self._blocks_via, now, self.settings.network_stale_after_s),
            error=self._blocks_error,
        )

    async def hashrate_history(self, period: str) -> HashrateHistory:
        """Hashrate history from mempool.space, cached `history_cache_s`; on failure the cache,
        else our recorded samples."""
        self._require()
        if period not in HASHRATE_PERIODS:
            raise ValueError(f"period must be one of {', '.join(HASHRATE_PERIODS)}")
        if self.mempool is None:
            raise ChainUnavailable("hashrate history needs mempool.space")
        reading, via, error = await self._hashrate.get(period)
        return self._hashrate_out(period, reading, via, error)

    async def _fetch_hashrate(self, period: str) -> Reading[list[tuple[float, float]]]:
        assert self.mempool is not None
        series = await self.mempool.hashrate(period)
        now = self.clock.time()
        points = [(p.t, p.hashrate_hs) for p in series.points]
        as_of = min(points[-1][0], now) if points else now
        return Reading(points, "mempool", as_of, now)

    async def _recorded_hashrate(self, period: str) -> Reading[list[tuple[float, float]]] | None:
        now = self.clock.time()
        rows = await self.recorder.series(
            "network_hashrate", now - HASHRATE_PERIOD_DAYS[period] * 86_400, now
        )
        if not rows:
            return None
        points = [(t, ehs * EH) for t, ehs, _source in rows]
        return Reading(points, f"recorded ({rows[-1][2]})", rows[-1][0], now)

    def _hashrate_out(
        self, period: str, reading: Reading[list[tuple[float, float]]], via: Via, error: str | None
    ) -> HashrateHistory:
        return HashrateHistory(
            period=period,
            points=[
                HashratePointOut(t=t, hashrate_hs=h, hashrate_ehs=h / EH) for t, h in reading.value
            ],
            **freshness(reading, via, self.clock.time(), 2 * 86400),
            error=error,
        )


def _fresh(value: Freshness) -> dict[str, Any]:
    """Where a value came from and how old it is, to carry it over to another shape."""
    return {name: getattr(value, name) for name in Freshness.model_fields}


def _as_dict(stats: NetworkStats) -> dict[str, Any]:
    """What the fleet reads hashprice from: the fields that were given, as plain JSON values."""
    return stats.model_dump(mode="json", exclude_unset=True)


def _source(
    name: str, fetch: Callable[[], Awaitable[tuple[T, float]]], provider: ProviderClient
) -> Source[T]:
    return Source(name, fetch, provider.report_bad_payload)


__all__ = ["ChainResult", "ChainService", "ChainUnavailable"]
