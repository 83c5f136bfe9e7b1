"""Storage at scale: SQLite (the embedded default, the baseline) against PostgreSQL.

    python bench/scale.py                 # 1,000 miners x 30 days of 5-minute rollups (8.64 M rows)
    python bench/scale.py --full          # 10,000 miners x 30 days (86.4 M rows; slow, ~20 GB)
    python bench/scale.py --pg-url postgresql+asyncpg://user@host/db   # an existing server

For each engine the schema comes from the project's own migrations. A month of 5-minute rollups
is generated inside the database (a recursive CTE in SQLite, `generate_series` in PostgreSQL)
with the indexes dropped during the load and rebuilt after, and the time it took is printed. Then,
through the backend's own code paths (`Database`, `FleetStore`):

- sample writes: full sweeps of one sample per miner, each sweep ONE transaction (`write_sweep`),
  as the poller writes them (COPY on PostgreSQL, executemany on SQLite); rows/s over the sweeps;
- history reads: `FleetStore.history` of one random miner over the last 24 h and the last 30 days
  of rollups; p50/p95 latency over many queries.

Without `--pg-url` a throw-away PostgreSQL cluster is started on loopback from the distribution's
binaries (as the tests do). Figures are printed with the PostgreSQL/SQLite ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.core.db import Database  # noqa: E402
from backend.fleet.store import FleetStore, SweepWrite  # noqa: E402

BUCKET_S = 300
END = datetime(2025, 1, 31, tzinfo=UTC)  # fixed: every run generates the same data
ROLLUP_INDEXES = {
    "ix_fleet_rollups_miner_ts": "(miner_id, ts)",
    "ix_fleet_rollups_ts": "(ts)",
}
COLUMNS = (
    "miner_id, ts, samples, online, status, hashrate_ths, power_w, temp_board_max_c, "
    "temp_chip_max_c"
)


def miner_id(n: int) -> str:
    return f"127.{20 + n // 65536}.{n // 256 % 256}.{n % 256}:4028"


SQLITE_LOAD = f"""
WITH RECURSIVE
  m(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM m WHERE n + 1 < :miners),
  t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k + 1 < :buckets)
INSERT INTO fleet_rollups ({COLUMNS})
SELECT '127.' || (20 + m.n / 65536) || '.' || (m.n / 256 % 256) || '.' || (m.n % 256) || '\\:4028',
       strftime('%Y-%m-%d %H:%M:%S.000000', :start + t.k * {BUCKET_S}, 'unixepoch'),
       30, 30, 'online',
       100.0 + (m.n * 7 + t.k) % 20, 3250.0 + (t.k % 50), 65.0 + (t.k % 10), 75.0 + (m.n % 10)
FROM t CROSS JOIN m
"""

POSTGRES_LOAD = f"""
INSERT INTO fleet_rollups ({COLUMNS})
SELECT '127.' || (20 + m.n / 65536) || '.' || (m.n / 256 % 256) || '.' || (m.n % 256) || '\\:4028',
       to_timestamp(:start + t.k * {BUCKET_S}),
       30, 30, 'online',
       100.0 + (m.n * 7 + t.k) % 20, 3250.0 + (t.k % 50), 65.0 + (t.k % 10), 75.0 + (m.n % 10)
FROM generate_series(0, :buckets - 1) AS t(k) CROSS JOIN generate_series(0, :miners - 1) AS m(n)
"""


async def load_rollups(db: Database, miners: int, days: int) -> tuple[int, float]:
    """A month of rollups for every miner, generated in the database; (rows, seconds)."""
    buckets = days * 86_400 // BUCKET_S
    start = (END - timedelta(days=days)).timestamp()
    statement = SQLITE_LOAD if db.is_sqlite else POSTGRES_LOAD
    began = time.perf_counter()
    async with db.engine.begin() as connection:
        for name in ROLLUP_INDEXES:
            await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
        await connection.execute(
            text(statement), {"miners": miners, "buckets": buckets, "start": int(start)}
        )
        for name, columns in ROLLUP_INDEXES.items():
            await connection.execute(text(f"CREATE INDEX {name} ON fleet_rollups {columns}"))
        await connection.execute(text("ANALYZE"))
    return miners * buckets, time.perf_counter() - began


async def sample_writes(db: Database, miners: int, sweeps: int) -> float:
    """Rows/s of full sweeps written as the poller writes them (one transaction per sweep)."""
    store = FleetStore(db)
    total = 0.0
    for sweep in range(sweeps):
        ts = END + timedelta(seconds=10 * sweep)
        batch = SweepWrite(
            samples=[
                {
                    "miner_id": miner_id(n),
                    "ts": ts,
                    "status": "online",
                    "hashrate_ths": 100.0 + n % 20,
                    "power_w": 3250.0,
                    "temp_board_max_c": 65.0,
                    "temp_chip_max_c": 75.0,
                }
                for n in range(miners)
            ]
        )
        began = time.perf_counter()
        await store.write_sweep(batch)
        total += time.perf_counter() - began
    return miners * sweeps / total


async def history_latency(
    db: Database, miners: int, span: timedelta, queries: int
) -> tuple[float, float, int]:
    """p50 and p95 (ms) of one random miner's rollup history over `span`; rows per answer."""
    store = FleetStore(db)
    pick = random.Random(7)
    timings: list[float] = []
    rows = 0
    for _ in range(queries):
        began = time.perf_counter()
        answer = await store.history(miner_id(pick.randrange(miners)), END - span, rollups=True)
        timings.append((time.perf_counter() - began) * 1000)
        rows = len(answer)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], rows


async def run_engine(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    try:
        await db.upgrade()
        print(f"[{label}] generating {args.miners:,} miners x {args.days} days of rollups...")
        rows, load_s = await load_rollups(db, args.miners, args.days)
        print(f"[{label}] {rows:,} rollup rows in {load_s:.1f} s ({rows / load_s:,.0f} rows/s)")
        writes = await sample_writes(db, args.miners, args.sweeps)
        print(f"[{label}] sample writes: {writes:,.0f} rows/s ({args.sweeps} sweeps)")
        result: dict[str, Any] = {"rows": rows, "load_s": load_s, "writes": writes}
        for name, span in (("24h", timedelta(hours=24)), ("30d", timedelta(days=args.days))):
            await history_latency(db, args.miners, span, 5)  # warm the pool and the plan
            p50, p95, answer = await history_latency(db, args.miners, span, args.queries)
            result[name] = (p50, p95)
            print(f"[{label}] history {name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({answer} rows)")
        return result
    finally:
        await db.close()


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.servers import postgres_server

    with postgres_server() as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miners", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--full", action="store_true", help="10,000 miners (86.4 M rows)")
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (asyncpg URL)")
    parser.add_argument("--sqlite-dir", help="where the SQLite file goes (default: a temp dir)")
    args = parser.parse_args()
    if args.full:
        args.miners = 10_000
    with tempfile.TemporaryDirectory(dir=args.sqlite_dir) as folder:
        sqlite = asyncio.run(
            run_engine("sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'scale.db'}", args)
        )
    with postgres(args.pg_url) as url:
        pg = asyncio.run(run_engine("postgres", url, args))
    print()
    print(f"{args.miners:,} miners, {args.days} days of 5-minute rollups; baseline: SQLite")
    print(f"{'':24}{'sqlite':>14}{'postgres':>14}{'pg/sqlite':>12}")
    table = [
        ("generation (s)", sqlite["load_s"], pg["load_s"]),
        ("sample writes (rows/s)", sqlite["writes"], pg["writes"]),
        ("history 24h p50 (ms)", sqlite["24h"][0], pg["24h"][0]),
        ("history 24h p95 (ms)", sqlite["24h"][1], pg["24h"][1]),
        ("history 30d p50 (ms)", sqlite["30d"][0], pg["30d"][0]),
        ("history 30d p95 (ms)", sqlite["30d"][1], pg["30d"][1]),
    ]
    for name, a, b in table:
        print(f"{name:24}{a:>14,.2f}{b:>14,.2f}{b / a:>11.2f}x")


if __name__ == "__main__":
    main()
