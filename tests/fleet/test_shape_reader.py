"""The per-shape reader gives ``normalize``'s general path's snapshot, or leaves the reply to it.

Sane replies of every simulated firmware (healthy and with each reading fault) must be read
by the shape reader itself, and identically; captured replies and hostile mutations of them
(every value replaced by something odd, keys dropped, sections reshaped) must give the
general path's snapshot, whichever path reads them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.fleet import shape_reader
from backend.fleet.client import POLL_COMMANDS, CgminerClient
from backend.fleet.codec import decode_reply
from backend.fleet.normalize import (
    FAMILY_EXTRA_COMMANDS,
    MinerSnapshot,
    normalize,
)
from backend.fleet.poller import PLANS
from backend.sim.fleet import DIALECTS, Fault, FleetSimulator

Loader = Callable[[str], bytes]
AM = "antminer-s19pro-stock-bmminer-1.0.0_"
WM = "whatsminer-btminer-api-v1.4.0-fw20210322_"
CG = "cgminer-4.11.1-benchmark_"
CAPTURED = {
    "antminer": (AM, ["version", "summary", "stats", "pools", "devs"]),
    "whatsminer": (WM, ["summary", "devs", "pools"]),
    "whatsminer+status": (WM, ["summary", "devs", "pools", "get_version", "status"]),
    "cgminer": (CG, ["version", "summary", "pools", "stats"]),
}
ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    " ",
    "-",
    "n/a",
    "abc",
    "nan",
    "inf",
    "1e999",
    math.nan,
    -1,
    -0.5,
    0,
    0.0,
    10**30,
    1e300,
    True,
    False,
    [],
    [1, 2],
    {},
    {"a": 1},
    "12 TH/s",
    "524K",
    "0:00:27",
    "-5:00",
    "73-45-0-65",
    "200-20",
    "Y",
    "false",
    "ooxx",
    "stratum+tcp://devfee.example:3333",
)


def same_or_left(replies: dict[str, Any]) -> MinerSnapshot | None:
    """The shape reader's answer, checked against the general path's (None: it left it)."""
    general = normalize(replies)
    fast = shape_reader.read(replies)
    assert fast is None or fast == general, (fast, general)
    assert normalize(replies) == general
    return fast


def captured(load: Loader, name: str) -> dict[str, Any]:
    prefix, commands = CAPTURED[name]
    return {c: decode_reply(load(f"{prefix}{c}.json")) for c in commands}


def with_row(
    replies: dict[str, Any], command: str, section: str, index: int, row: dict[str, Any]
) -> dict[str, Any]:
    """``replies`` with one row replaced (the rest shared, never written to)."""
    rows = list(replies[command][section])
    rows[index] = row
    return {**replies, command: {**replies[command], section: rows}}


def mutations(replies: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each row value replaced by each odd value; each key dropped; sections reshaped."""
    for command, reply in replies.items():
        for section, rows in reply.items():
            if section in ("STATUS", "id") or not isinstance(rows, list):
                continue
            for index, row in enumerate(rows):
                if not isinstance(row, dict):
                    continue
                for key in row:
                    for odd in ODD_VALUES:
                        yield with_row(replies, command, section, index, {**row, key: odd})
                    dropped = {k: v for k, v in row.items() if k != key}
                    yield with_row(replies, command, section, index, dropped)
            for shape in (rows[0] if rows else {}, [], None, "x", [rows[0] if rows else {}, 1]):
                changed = copy.deepcopy(replies)
                changed[command][section] = shape
                yield changed
        for status in ("E", "F", "X", None):
            changed = copy.deepcopy(replies)
            changed[command]["STATUS"] = [{"STATUS": status, "Code": 14, "Msg": "no"}]
            yield changed
        wrapped = copy.deepcopy(replies)
        wrapped[command] = [wrapped[command]]
        yield wrapped


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_captured_replies_read_alike(fixture_bytes: Loader, name: str) -> None:
    replies = captured(fixture_bytes, name)
    fast = same_or_left(replies)
    if name != "whatsminer+status":  # message objects are the general path's
        assert fast is not None


@pytest.mark.parametrize("name", ["antminer", "cgminer", "whatsminer"])
def test_hostile_mutations_read_alike(fixture_bytes: Loader, name: str) -> None:
    replies = captured(fixture_bytes, name)
    read = left = 0
    for changed in mutations(replies):
        if same_or_left(changed) is None:
            left += 1
        else:
            read += 1
    assert left > 0 and read > 0  # both paths were exercised


async def sim_replies(sim: FleetSimulator) -> list[tuple[str, dict[str, Any]]]:
    """Every miner's replies to the first sweep's commands and to its family's plan."""
    got: list[tuple[str, dict[str, Any]]] = []
    for miner in sim.miners:
        client = CgminerClient(*miner.address, connect_timeout=2.0, read_timeout=2.0)
        first = await client.multi(POLL_COMMANDS)
        family = miner.family if miner.family in PLANS else "antminer"
        extra = FAMILY_EXTRA_COMMANDS.get(family, ())
        got.append((f"{miner.family} first", first))
        if extra:
            joined = [c for c in extra if not c.startswith("get_")]
            if joined:
                got.append(
                    (f"{miner.family} first+extras", {**first, **await client.multi(joined)})
                )
        got.append((f"{miner.family} plan", await client.multi(PLANS[family])))
    return got


async def test_simulated_fleet_is_read_by_shape_alike() -> None:
    async with FleetSimulator(len(DIALECTS) * 2, use_ports=True, families=DIALECTS, seed=11) as sim:
        healthy = await sim_replies(sim)
        faults = (Fault.OVERHEAT, Fault.BOARD_FAILURE, Fault.HASHRATE_DROP, Fault.DEAD_POOL)
        for index, miner in enumerate(sim.miners):
            await miner.set_fault(faults[index % len(faults)])
        faulty = await sim_replies(sim)
    for label, replies in healthy + faulty:
        if "get_version" in replies:
            continue
        assert same_or_left(replies) is not None, label  # sane: the shape reader's own
    # Braiins' extra sections (fans, temps, tunerstatus, devdetails) have no capture
    braiins = next(replies for label, replies in healthy if label == "braiins plan")
    left = sum(same_or_left(changed) is None for changed in mutations(braiins))
    assert left > 0
