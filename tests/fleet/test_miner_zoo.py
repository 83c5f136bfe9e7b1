"""The real poller, `hashinsight serve` and `fleet scan` against the garbage miner zoo.

Every variant of ``backend.sim.miner_zoo`` at once: the process stays up, each miner gets its
plain error, no sweep outlasts the configured timeouts, memory stays flat (the 50 MB reply
included) and nothing is logged with a traceback. Loopback only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.fleet.admin import scan_network
from backend.fleet.alerts import AlertBook, RuleSet
from backend.fleet.inventory import MinerSpec
from backend.fleet.models import FleetSampleRow
from backend.fleet.poller import Poller
from backend.fleet.store import FleetStore
from backend.settings import Settings
from backend.sim.miner_zoo import MinerZoo, Variant
from tests.helpers import eventually, free_port, isolated_env, seed_migrated_database

CONNECT_S = 1.0
READ_S = 1.0
# A sweep waits at most one connect and one read deadline per miner (they run in parallel);
# the rest is slack for a loaded 2-core machine, not part of the bound being checked.
SWEEP_BOUND_S = CONNECT_S + READ_S + 3.0
RSS_GROWTH_MAX = 25 * 1024 * 1024  # the 50 MB reply must not land in memory

TIMEOUT = f"timeout after {READ_S}s reading reply"
EXPECTED: dict[Variant, tuple[str, str | None]] = {
    Variant.DEEP_NESTING: ("error", "malformed reply: reply nested deeper than 128 levels"),
    Variant.NEGATIVE: (
        "error",
        "suspect data: negative hashrate; negative accepted shares; negative hardware errors; "
        "negative uptime",
    ),
    Variant.NON_FINITE: ("error", "suspect data: hashrate is not finite"),
    Variant.NOT_A_NUMBER: ("error", 'suspect data: hashrate "abc" is not a number'),
    Variant.HUGE_INTEGER: ("error", "malformed reply: invalid JSON (a number has too many digits)"),
    Variant.ABSURD: (
        "error",
        "suspect data: hashrate 20000 TH/s out of range; temperature 500 °C out of range",
    ),
    Variant.TRUNCATED: ("error", "malformed reply: truncated reply"),
    Variant.HUGE_REPLY: ("error", "malformed reply: reply larger than 1048576 bytes"),
    Variant.SLOW_DRIP: ("error", TIMEOUT),
    Variant.SILENT: ("error", TIMEOUT),
    Variant.BINARY: ("error", "malformed reply: reply is binary data, not JSON or cgminer text"),
    Variant.RESET: ("error", "connection reset"),
    # a complete reply from a miner that keeps the socket open is read at the deadline
    Variant.NEVER_CLOSING: ("online", None),
    Variant.WRONG_SHAPE_OBJECT: ("error", "malformed reply: reply has no STATUS section"),
    Variant.WRONG_SHAPE_STRING: ("error", "malformed reply: reply is neither JSON nor cgminer"),
    Variant.WRONG_SHAPE_NUMBER: ("error", "malformed reply: reply is neither JSON nor cgminer"),
    Variant.TOP_LEVEL_LIST: ("error", "malformed reply: reply is not a JSON object"),
}
SUSPECT = (Variant.NEGATIVE, Variant.NON_FINITE, Variant.NOT_A_NUMBER, Variant.ABSURD)


def check_miner(variant: Variant, status: str, error: str | None) -> None:
    want_status, want_error = EXPECTED[variant]
    assert status == want_status, (variant, status, error)
    if want_error is None:
        assert error is None, (variant, error)
    else:
        assert error is not None and error.startswith(want_error), (variant, error)
        assert "internal error" not in error and "Traceback" not in error


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def no_tracebacks(records: list[logging.LogRecord]) -> None:
    bad = [
        r
        for r in records
        if r.exc_info or r.exc_text or "Traceback" in r.getMessage() or r.levelno >= logging.ERROR
    ]
    assert not bad, [f"{r.name}: {r.getMessage()[:200]}" for r in bad]


@pytest.fixture
async def zoo() -> AsyncIterator[MinerZoo]:
    async with MinerZoo() as running:
        assert set(running.addresses) == set(Variant) == set(EXPECTED)
        yield running


@pytest.fixture
async def private_db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "zoo.db"
    seed_migrated_database(path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield db
    finally:
        await db.close()


class HashpriceSource:
    """Stands in for the chain service: economics need a hashprice."""

    def stats(self) -> dict[str, Any]:
        return {"hashprice_usd_per_th_day": 0.05}


def zoo_poller(settings: Settings, db: Database, zoo: MinerZoo) -> Poller:
    settings = settings.model_copy(
        update={
            "fleet_connect_timeout_s": CONNECT_S,
            "fleet_read_timeout_s": READ_S,
            "fleet_poll_interval_s": 1.0,
            "fleet_alert_raise_sweeps": 1,
        }
    )
    poller = Poller(
        settings,
        FleetStore(db),
        EventBus(),
        ManualClock(),
        rules=RuleSet(settings),
        book=AlertBook(settings.fleet_alert_raise_sweeps, settings.fleet_alert_clear_sweeps),
        mailer=None,
        services=lambda: {"chain": HashpriceSource()},
    )
    specs = [MinerSpec(id=v.value, host=h, port=p) for v, (h, p) in zoo.addresses.items()]
    poller.set_inventory(specs)
    return poller


@pytest.mark.timeout(90)
async def test_poller_sweeps_the_zoo_with_plain_errors_in_bounded_time_and_memory(
    settings: Settings, private_db: Database, zoo: MinerZoo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    poller = zoo_poller(settings, private_db, zoo)
    clock = poller.clock
    assert isinstance(clock, ManualClock)
    before = rss_bytes()
    for _ in range(3):
        clock.advance(1000.0)  # past any backoff: every miner is due
        started = time.monotonic()
        summary = await poller.sweep()
        took = time.monotonic() - started
        assert took < SWEEP_BOUND_S, f"sweep took {took:.1f}s"
        assert summary["sweep"]["miners"] == len(Variant)  # every miner polled every sweep
        for state in poller.states.values():
            data = poller.miner_data(state)
            check_miner(Variant(state.spec.id), data["status"], data["error"])
    assert rss_bytes() - before < RSS_GROWTH_MAX
    # Without time passing, only miners that answered are due again: suspect ones included
    # (they answered promptly), the broken ones back off.
    summary = await poller.sweep()
    assert summary["sweep"]["miners"] == len(SUSPECT) + 1

    # Only the one sane reply counts: suspect miners add no hashrate, power or money.
    sane = poller.miner_data(poller.states[Variant.NEVER_CLOSING.value])
    assert sane["hashrate_ths"] and sane["revenue_usd_day"]
    assert summary["online"] == 1 and summary["error"] == len(Variant) - 1
    assert summary["hashrate_ths"] == pytest.approx(sane["hashrate_ths"], abs=1e-3)
    assert summary["revenue_usd_day"] == pytest.approx(sane["revenue_usd_day"], abs=0.01)
    for variant in SUSPECT:
        data = poller.miner_data(poller.states[variant.value])
        assert data["revenue_usd_day"] is None and data["cost_usd_day"] is None
    # Alerts: a flagged miner raises "not answering properly", never a threshold rule.
    rules = {rule for miner, rule in poller.book.open if miner != Variant.NEVER_CLOSING.value}
    assert rules == {"offline"}
    assert "suspect data" in poller.book.open[(Variant.ABSURD.value, "offline")].message
    # History keeps no reading of a suspect poll.
    async with private_db.session() as session:
        kept = await session.scalars(
            select(FleetSampleRow).where(FleetSampleRow.miner_id.in_([v.value for v in SUSPECT]))
        )
        rows = list(kept)
    assert len(rows) == 4 * len(SUSPECT)  # three sweeps of all, one of those that answered
    assert all(r.status == "error" and r.hashrate_ths is None for r in rows)
    assert all(r.temp_board_max_c is None for r in rows)
    no_tracebacks(caplog.records)


@pytest.mark.timeout(60)
async def test_fleet_scan_over_the_zoo_finishes_and_reports_every_host(
    settings: Settings, zoo: MinerZoo, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings.model_copy(
        update={"fleet_scan_timeout_s": READ_S, "fleet_scan_concurrency": 32}
    )
    port = next(iter(zoo.addresses.values()))[1]
    hosts = [host for host, _ in zoo.addresses.values()]
    started = time.monotonic()
    status = await scan_network(settings, hosts, port, add=False)
    assert time.monotonic() - started < SWEEP_BOUND_S
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Traceback" not in out + err
    # Value variants answer `version` like a miner; everything else is named, not a miner.
    answered = {*SUSPECT, Variant.HUGE_INTEGER, Variant.NEVER_CLOSING}
    for variant, (host, _) in zoo.addresses.items():
        address = f"{host}:{port}"
        if variant in answered:
            assert any(line.startswith(address + " ") for line in out.splitlines()), variant
        else:
            line = next((x for x in err.splitlines() if x.startswith(address + " ")), None)
            assert line is not None and "not a miner: " in line, (variant, err)
    assert f"{len(answered)} miners answered" in err


def start_serve(env: dict[str, str], port: int, logs: Path) -> subprocess.Popen[bytes]:
    """Output to files, read while it runs (a pipe would need a reader off the zoo's loop)."""
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "hashinsight_cli", "serve", "--port", str(port)],
            env={"PATH": os.environ["PATH"], **env},
            stdout=out,
            stderr=err,
        )


@pytest.mark.timeout(150)
async def test_serve_stays_up_against_the_zoo(tmp_path: Path, zoo: MinerZoo) -> None:
    """The real `hashinsight serve` with its inventory pointed at every variant."""
    env = isolated_env(
        tmp_path,
        HASHINSIGHT_MINERS=",".join(zoo.settings_overrides()["miners"]),
        HASHINSIGHT_FLEET_CONNECT_TIMEOUT_S=str(CONNECT_S),
        HASHINSIGHT_FLEET_READ_TIMEOUT_S=str(READ_S),
        HASHINSIGHT_FLEET_POLL_INTERVAL_S="1",
        HASHINSIGHT_FLEET_BACKOFF_MAX_S="1",
    )
    port = free_port()
    process = start_serve(env, port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:

        def operator_key() -> str | None:
            for line in (tmp_path / "stdout").read_text().splitlines():
                if line.startswith("Initial operator key"):
                    return line.rsplit(": ", 1)[1].strip()
            assert process.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
            return None

        key = await eventually(operator_key, within_s=90, step_s=0.2, what="serve to start")
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:

            async def sweeps_seen() -> dict[str, Any] | None:
                assert process.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
                miners = (await http.get("/api/v1/miners", params={"limit": 100})).json()
                polled = [m for m in miners["items"] if m["error"] != "waiting for the first poll"]
                return miners if len(polled) == len(Variant) else None

            miners = await eventually(sweeps_seen, within_s=60, step_s=0.3, what="a sweep")
            first_rss = rss_bytes(process.pid)
            for item in miners["items"]:
                check_miner(_variant(zoo, item), item["status"], item["error"])

            async def later_sweep(after: float) -> dict[str, Any] | None:
                assert process.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
                summary = (await http.get("/api/v1/fleet/summary")).json()
                started = summary["sweep"]["started_at"]
                return summary if started is not None and started > after else None

            mark = time.time()
            for _ in range(3):  # three more sweeps over every variant
                summary = await eventually(
                    lambda m=mark: later_sweep(m), within_s=60, step_s=0.3, what="next sweep"
                )
                assert summary["sweep"]["duration_s"] < SWEEP_BOUND_S, summary["sweep"]
                mark = summary["sweep"]["started_at"]
            assert summary["online"] == 1 and summary["error"] == len(Variant) - 1
            assert rss_bytes(process.pid) - first_rss < RSS_GROWTH_MAX
            miners = (await http.get("/api/v1/miners", params={"limit": 100})).json()
            for item in miners["items"]:
                check_miner(_variant(zoo, item), item["status"], item["error"])
            assert (await http.get("/healthz")).status_code == 200
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
    stderr = (tmp_path / "stderr").read_text()
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]
    assert " ERROR " not in stderr and "CRITICAL" not in stderr, stderr[-3000:]


def _variant(zoo: MinerZoo, item: dict[str, Any]) -> Variant:
    by_address = {f"{h}:{p}": v for v, (h, p) in zoo.addresses.items()}
    return by_address[item["id"]]
