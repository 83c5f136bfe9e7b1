"""The market service: BTC price through the provider fallback chain, history, and exchanges.

Publishes `price.tick` on `prices` after every price round and `exchanges.update` on `exchanges`
after every exchange round. Each round re-arms its timer when it ends (no overlap); providers that
fail trip their circuit breaker in the HTTP factory and are skipped until it half-opens, and a 429
with Retry-After blocks the provider for that long. With several processes on one database and
Redis only the holder of the `market` lease (`leader.py`) polls and records; the others follow
the values it shares.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

from backend.core.http import ProviderClient, ProviderError
from backend.core.service import ServiceContext
from backend.core.shared_state import RedisSharedCache, RedisStore, open_shared_cache
from backend.market import binance, bybit, deribit, okx
from backend.market import blockchain_info as bci_price
from backend.market import mempool as mempool_price
from backend.market.aggregate import VenueState, aggregate
from backend.market.coingecko import API_KEY_HEADER, PERIOD_DAYS, CoinGeckoClient
from backend.market.models import PricePoint, PriceQuote, VenueTicker
from backend.providers.blockchain_info import BlockchainInfoStats
from backend.providers.fallback import ChainResult, FallbackChain, Source
from backend.providers.guard import Anchor, GuardLimits, check_price
from backend.providers.history import HistoryCache
from backend.providers.leader import ProviderLeader, fresh_window_s
from backend.providers.polling import cancel_all, run_every
from backend.providers.values import Reading, Via, freshness
from hashinsight_contract.market import (
    AttemptOut,
    ExchangesOut,
    PriceCurrent,
    PriceHistory,
    PricePointOut,
)

log = logging.getLogger("hashinsight.market")

VENUES: dict[str, Callable[[ProviderClient], Awaitable[VenueTicker]]] = {
    okx.NAME: okx.fetch,
    binance.NAME: binance.fetch,
    deribit.NAME: deribit.fetch,
    bybit.NAME: bybit.fetch,
}
DISABLED_DETAIL = "market_enabled is false: not polled"


class MarketUnavailable(Exception):
    """No value at all can be given (never fetched, or disabled); the message says why."""


class MarketService:
    name: ClassVar[str] = "market"
    channels: ClassVar[frozenset[str]] = frozenset({"prices", "exchanges"})

    def __init__(self, context: ServiceContext) -> None:
        settings = context.settings
        self.settings = settings
        self.bus = context.bus
        self.clock = context.clock
        self.enabled = settings.market_enabled
        self.limits = GuardLimits(
            price_max_jump_pct=settings.price_max_jump_pct,
            hashrate_max_ratio=settings.hashrate_max_ratio,
            reset_after_s=settings.guard_reset_after_s,
        )
        self._tasks: list[asyncio.Task[None]] = []
        # --- shared state (redis) --- one process polls the providers (market and chain)
        self.leader = ProviderLeader(
            context.db,
            context.clock,
            context.health,
            shared=self.enabled and bool(settings.database_url and settings.redis_url),
            ttl_s=settings.market_lease_ttl_s,
        )
        self.recorder = self.leader.recorder(context)
        self._shared_store: RedisStore | None = None
        self._shared: RedisSharedCache | None = None
        self._history: HistoryCache[PricePoint] = HistoryCache(
            PERIOD_DAYS,
            context.clock,
            settings.history_cache_s,
            fetch=self._fetch_history,
            recorded=self._recorded_history,
            unavailable=lambda why: MarketUnavailable(f"no price history: {why}"),
        )
        self.venues = {name: VenueState(name) for name in VENUES}
        self._venue_providers: dict[str, ProviderClient] = {}
        urls = {
            "coingecko": settings.coingecko_url,
            "blockchain_info": settings.blockchain_info_url,
            "mempool": settings.mempool_url,
            okx.NAME: settings.okx_url,
            binance.NAME: settings.binance_url,
            deribit.NAME: settings.deribit_url,
            bybit.NAME: settings.bybit_url,
        }
        if not self.enabled:
            for name, url in urls.items():
                context.health.register(name, "http", url, status="disabled")
                context.health.set_status(name, "disabled", DISABLED_DETAIL)
            self.price_chain: FallbackChain[PriceQuote] | None = None
            self.coingecko: CoinGeckoClient | None = None
            return
        http = context.http
        key = settings.coingecko_api_key
        headers = {API_KEY_HEADER: key.get_secret_value()} if key else None
        retries = settings.market_retries
        self.coingecko = CoinGeckoClient(
            http.provider("coingecko", urls["coingecko"], headers=headers, retries=retries),
            self.clock,
        )
        self.blockchain_info = BlockchainInfoStats(
            http.provider("blockchain_info", urls["blockchain_info"], retries=retries), self.clock
        )
        self.mempool = mempool_price.MempoolPriceClient(
            http.provider("mempool", urls["mempool"], retries=retries), self.clock
        )
        for name in VENUES:
            self._venue_providers[name] = http.provider(
                name, urls[name], timeout_s=settings.exchange_timeout_s, retries=0
            )
        self.leader.follows(urls)
        sources = {
            "coingecko": Source(
                "coingecko", self.coingecko.current, self.coingecko.provider.report_bad_payload
            ),
            "blockchain_info": Source(
                "blockchain_info",
                lambda: bci_price.current_price(self.blockchain_info),
                self.blockchain_info.provider.report_bad_payload,
            ),
            "mempool": Source(
                "mempool",
                lambda: mempool_price.current_price(self.mempool),
                self.mempool.provider.report_bad_payload,
            ),
        }
        # --- shared state (redis) --- last good price shared by every instance
        shared = open_shared_cache(settings.redis_url, context.health, "market", self.clock)
        if shared is not None:
            self._shared, self._shared_store = shared
        self.price_chain = FallbackChain(
            "price",
            [sources[name] for name in settings.price_sources],
            self.clock,
            self._guard_price,
            shared=shared[0] if shared else None,
            decode=lambda data: PriceQuote(**data),
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not self.enabled:
            return
        await self.leader.start()
        self._tasks = [
            asyncio.create_task(
                run_every(self.settings.price_poll_s, self.poll_price, "price"), name="market-price"
            ),
            asyncio.create_task(
                run_every(self.settings.exchanges_poll_s, self.poll_exchanges, "exchanges"),
                name="market-exchanges",
            ),
            asyncio.create_task(
                run_every(86_400.0, self._prune, "samples prune"), name="market-prune"
            ),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        await self.leader.stop()
        if self._shared_store is not None:
            await self._shared_store.close()

    # ------------------------------------------------------------------ price

    def _guard_price(
        self, quote: PriceQuote, last: Reading[PriceQuote] | None, now: float
    ) -> str | None:
        if quote.volume_24h_usd is not None and quote.volume_24h_usd < 0:
            return f"negative 24 h volume {quote.volume_24h_usd:g} USD"
        anchor = Anchor(last.value.price_usd, last.source, last.fetched_at) if last else None
        return check_price(quote.price_usd, anchor, now, self.limits)

    async def _prune(self) -> None:
        if self.leader.polls:
            await self.recorder.prune()

    async def poll_price(self) -> ChainResult[PriceQuote]:
        assert self.price_chain is not None
        if not self.leader.polls:  # the holder publishes the tick; it reaches us through Redis
            return await self.price_chain.follow(fresh_window_s(self.settings.price_poll_s))
        result = await self.price_chain.fetch()
        if result.reading is not None:
            self.bus.emit("price.tick", self._price(result))
            if result.via == "live":
                reading = result.reading
                values = {"btc_price": reading.value.price_usd}
                await self.recorder.record(values, reading.source, reading.as_of)
        await self.price_chain.probe_idle(self.settings.fallback_probe_s)
        return result

    def price_reading(self) -> tuple[Reading[PriceQuote], Via] | None:
        """The last accepted price and how it is held (live this round, or cache)."""
        if self.price_chain is None or self.price_chain.last is None:
            return None
        return self.price_chain.last, self.price_chain.last_result.via

    def current(self) -> PriceCurrent:
        if self.price_chain is None:
            raise MarketUnavailable("market data is disabled (market_enabled is false)")
        result = self.price_chain.last_result
        if result.reading is None:
            why = result.errors() or "no price fetched yet"
            raise MarketUnavailable(f"no BTC price from any provider: {why}")
        return self._price(result)

    def _price(self, result: ChainResult[PriceQuote]) -> PriceCurrent:
        reading = result.reading
        assert reading is not None
        quote = reading.value
        return PriceCurrent(
            price_usd=quote.price_usd,
            change_24h_pct=quote.change_24h_pct,
            volume_24h_usd=quote.volume_24h_usd,
            market_cap_usd=quote.market_cap_usd,
            **freshness(reading, result.via, self.clock.time(), self.settings.price_stale_after_s),
            attempts=[AttemptOut(source=a.source, ok=a.ok, error=a.error) for a in result.attempts],
            fallback_order=list(self.settings.price_sources),
        )

    async def history(self, period: str) -> PriceHistory:
        """Price history from CoinGecko, cached `history_cache_s`; on failure the cache (stale),
        else our recorded samples."""
        if period not in PERIOD_DAYS:
            raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}")
        if self.coingecko is None:
            raise MarketUnavailable("market data is disabled (market_enabled is false)")
        reading, via, error = await self._history.get(period)
        return self._history_out(period, reading, via, error)

    async def _fetch_history(self, period: str) -> Reading[list[PricePoint]]:
        assert self.coingecko is not None
        points = await self.coingecko.history(period)
        now = self.clock.time()
        as_of = min(points[-1].t, now) if points else now
        return Reading(points, "coingecko", as_of, now)

    async def _recorded_history(self, period: str) -> Reading[list[PricePoint]] | None:
        now = self.clock.time()
        rows = await self.recorder.series("btc_price", now - PERIOD_DAYS[period] * 86_400, now)
        if not rows:
            return None
        points = [PricePoint(t, value) for t, value, _source in rows]
        return Reading(points, f"recorded ({rows[-1][2]})", rows[-1][0], now)

    def _history_out(
        self, period: str, reading: Reading[list[PricePoint]], via: Via, error: str | None
    ) -> PriceHistory:
        stale_after = max(self.settings.history_cache_s, self.settings.price_stale_after_s)
        return PriceHistory(
            period=period,
            points=[PricePointOut(t=p.t, price_usd=p.price_usd) for p in reading.value],
            **freshness(reading, via, self.clock.time(), stale_after + 3600),
            error=error,
        )

    async def notary_section(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The report's market section: BTC price over the period, from our recorded samples."""
        return {
            "btc_price_usd": await self.recorder.summary(
                "btc_price", start.timestamp(), end.timestamp()
            ),
            "recorded_every_s": self.settings.market_record_s,
        }

    # ------------------------------------------------------------------ exchanges

    async def poll_exchanges(self) -> ExchangesOut:
        if not self.leader.polls:
            await self._follow_exchanges()
            return self.exchanges()
        await asyncio.gather(*(self._poll_venue(name) for name in self.venues))
        snapshot = self.exchanges()
        self.bus.emit("exchanges.update", snapshot)
        await self._share_exchanges()
        return snapshot

    async def _share_exchanges(self) -> None:
        if self._shared is None or not self.leader.shared:
            return
        venues = [
            {**_without_ticker(state), "ticker": state.ticker.to_dict() if state.ticker else None}
            for state in self.venues.values()
        ]
        entry = {"venues": venues, "shared_at": self.clock.time()}
        await self._shared.set("exchanges", entry, 86_400.0)

    async def _follow_exchanges(self) -> None:
        """The venues as the polling process last saw them; failed if it stopped reporting."""
        entry = await self._shared.get("exchanges") if self._shared is not None else None
        if not isinstance(entry, dict):
            return
        try:
            for item in entry["venues"]:
                state = self.venues.get(item["venue"])
                if state is None:
                    continue
                ticker = item["ticker"]
                state.ticker = VenueTicker(**ticker) if ticker else state.ticker
                state.status, state.error = item["status"], item["error"]
                state.latency_ms, state.checked_at = item["latency_ms"], item["checked_at"]
            age = self.clock.time() - float(entry["shared_at"])
        except (KeyError, TypeError, ValueError):  # written by another version
            return
        if age > fresh_window_s(self.settings.exchanges_poll_s):
            for state in self.venues.values():
                state.status = "error"
                state.error = f"{state.venue}: the polling process last reported {age:.0f}s ago"

    async def _poll_venue(self, name: str) -> None:
        provider = self._venue_providers[name]
        state = self.venues[name]
        limit = self.settings.exchange_timeout_s * 1.5 + 0.5
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):  # not wait_for: it can lose a cancel on 3.11
                ticker = await VENUES[name](provider)
        except ProviderError as exc:
            state.status, state.error = "error", str(exc)
        except TimeoutError:
            provider.report_bad_payload(f"no answer within {limit:g}s")
            state.status, state.error = "error", f"{name}: no answer within {limit:g}s"
        except Exception as exc:
            log.exception("exchange %s adapter failed", name)
            state.status, state.error = "error", f"{name}: internal error {type(exc).__name__}"
        else:
            reason = self._guard_venue(ticker, state.ticker)
            if reason is None:
                state.status, state.error, state.ticker = "ok", None, ticker
            else:
                log.warning("%s ticker rejected: %s", name, reason)
                provider.report_bad_payload(f"absurd ticker rejected: {reason}")
                state.status, state.error = "error", f"{name}: rejected: {reason}"
        state.latency_ms = round((time.monotonic() - started) * 1000, 1)
        state.checked_at = self.clock.time()

    def _guard_venue(self, ticker: VenueTicker, last: VenueTicker | None) -> str | None:
        for label, value in (("BTC", ticker.volume_24h_btc), ("quote", ticker.volume_24h_quote)):
            if value is not None and value < 0:
                return f"negative 24 h {label} volume {value:g}"
        anchor = Anchor(last.price, ticker.venue, last.as_of) if last else None
        return check_price(ticker.price, anchor, self.clock.time(), self.limits)

    def exchanges(self) -> ExchangesOut:
        if not self.enabled:
            raise MarketUnavailable("market data is disabled (market_enabled is false)")
        now = self.clock.time()
        stale_after = max(self.settings.price_stale_after_s, self.settings.exchanges_poll_s * 3)
        states = list(self.venues.values())
        return ExchangesOut(
            venues=[state.out(now, stale_after) for state in states],
            aggregate=aggregate(states, now, stale_after),
            checked_at=max((s.checked_at or 0.0 for s in states), default=0.0) or None,
        )


def _without_ticker(state: VenueState) -> dict[str, Any]:
    return {
        "venue": state.venue,
        "status": state.status,
        "error": state.error,
        "latency_ms": state.latency_ms,
        "checked_at": state.checked_at,
    }
