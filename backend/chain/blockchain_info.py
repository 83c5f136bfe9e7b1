"""blockchain.info: `/stats?format=json` and the plain-text `/q/...` query endpoints.

Wire facts (blockchain.com Charts & Statistics API): in `/stats`, `hash_rate` is GH/s,
`total_fees_btc`, `n_btc_mined` and `totalbc` are satoshis despite their names, `timestamp` is epoch
milliseconds, `minutes_between_blocks` is a 24 h average, `nextretarget` is the height of the next
retarget (in practice the last block of the period, one below the height where the new difficulty
starts). `/q/getblockcount` answers text/plain with a bare number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.chain.difficulty import estimate, next_retarget_height
from backend.chain.models import FeeSample, NetworkReading, NextAdjustment
from backend.providers.blockchain_info import BlockchainInfoStats, stats_time
from backend.providers.values import PayloadError, num, rejected

GH = 1e9
SATS_PER_BTC = 1e8


def parse_network(stats: Mapping[str, Any]) -> NetworkReading:
    where = "blockchain.info stats"
    height = num(stats, "n_blocks_total", where)
    return NetworkReading(
        hashrate_hs=num(stats, "hash_rate", where) * GH,
        difficulty=num(stats, "difficulty", where),
        tip_height=int(height),
    )


def parse_fees(stats: Mapping[str, Any]) -> FeeSample:
    where = "blockchain.info stats"
    blocks = int(num(stats, "n_blocks_mined", where))
    if blocks <= 0:
        raise PayloadError(f"{where}: n_blocks_mined is {blocks}")
    fees_btc = num(stats, "total_fees_btc", where) / SATS_PER_BTC
    return FeeSample(avg_fees_per_block_btc=fees_btc / blocks, blocks=blocks)


def parse_adjustment(stats: Mapping[str, Any], as_of: float) -> NextAdjustment:
    """Estimate from the 24 h mean block time (`minutes_between_blocks`)."""
    where = "blockchain.info stats"
    tip = int(num(stats, "n_blocks_total", where))
    announced = int(num(stats, "nextretarget", where))
    target = next_retarget_height(tip)
    if announced not in (target, target - 1):  # blockchain.info names the period's last block
        raise PayloadError(f"{where}: nextretarget {announced} does not follow tip {tip}")
    minutes = num(stats, "minutes_between_blocks", where)
    return estimate(tip, minutes * 60, as_of, "blockchain.info 24 h mean block time")


def parse_block_count(text: str) -> int:
    try:
        height = int(text.strip())
    except ValueError:
        raise PayloadError(f"blockchain.info getblockcount: not a number: {text[:40]!r}") from None
    if height <= 0:
        raise PayloadError(f"blockchain.info getblockcount: {height} is not a height")
    return height


class BlockchainInfoClient(BlockchainInfoStats):
    """The chain's readings from the shared `/stats` answer, and the block count."""

    async def network(self) -> tuple[NetworkReading, float]:
        stats = await self.stats()
        try:
            return parse_network(stats), stats_time(stats, self.clock.time())
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def fees(self) -> tuple[FeeSample, float]:
        stats = await self.stats()
        try:
            return parse_fees(stats), stats_time(stats, self.clock.time())
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def adjustment(self) -> tuple[NextAdjustment, float]:
        stats = await self.stats()
        try:
            as_of = stats_time(stats, self.clock.time())
            return parse_adjustment(stats, as_of), as_of
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None

    async def block_count(self) -> tuple[int, float]:
        response = await self.provider.request("GET", "/q/getblockcount")
        try:
            return parse_block_count(response.text), self.clock.time()
        except PayloadError as exc:
            raise rejected(self.provider, str(exc)) from None
