"""Console side of the fleet benchmark: the Fleet screen's model and widgets versus DataTable.

Measures, headless, on this machine:
  1. applying one sweep of 10,000 `miner.update` objects to the screen model (FleetModel) and
     repainting the table (one `app.batch_update()`), against a DataTable fed the same sweep
     cell by cell (`update_cell`) and, as the naive screen does it, by clear + add_rows;
  2. repainting a 20,000-row table (the lines Textual renders for the visible region, and the
     whole refresh-to-frame cycle), against DataTable holding the same 20,000 rows;
  3. loading 20,000 rows the first time;
  4. what the console does each sweep since rows stay as of the last sweep: one `fleet.readings`
     event (every polled miner as a compact row) merged with `FleetModel.apply_readings`, plus
     the repaint of every visible row (their ages move on). Budget: under 20 ms CPU for a sweep
     of 10,000; baseline: 37.4 ms CPU, this path before readings were taken lazily (every
     changed row copied and merged at once).

Rows are synthetic miner objects in the API's summary shape (`fleet_api` contract): the numbers
are the console's cost, not the poller's. Every figure is the median of `--repeat` runs; the
machine load at start is printed since other work on the box moves them.

    python bench/fleet_console.py [--sweep 10000] [--rows 20000] [--repeat 5] [--no-datatable]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `backend` from a checkout

from backend.fleet.poller import READING_FIELDS
from hashinsight_tui.fleet_model import FleetModel
from hashinsight_tui.widgets.fleet_grid import FleetGrid
from hashinsight_tui.widgets.fleet_table import FleetTable, fit_columns

SIZE = (120, 36)
DATATABLE_UPDATED = ("hashrate_ths", "hashrate_pct", "temp_chip_max_c")
# Part 4's acceptance line and the figure it is measured against (CPU ms, sweep of 10,000).
READINGS_BUDGET_MS = 20.0
READINGS_BASELINE_MS = 37.4
MODELS = ("Antminer S19 Pro", "Antminer S19j Pro", "Whatsminer M30S+", "Antminer S21")


def synthetic_fleet(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = time.time()
    rows = []
    for i in range(count):
        host = f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        online = rng.random() > 0.05
        expected = rng.choice((104.0, 110.0, 200.0))
        rate = expected * rng.uniform(0.85, 1.05) if online else None
        rows.append(
            {
                "id": f"{host}:4028",
                "host": host,
                "port": 4028,
                "site": f"site-{i // 5000 + 1}",
                "rack": f"R{i // 40 % 125 + 1:03d}",
                "position": str(i % 40 + 1),
                "status": "online" if online else "offline",
                "model": rng.choice(MODELS),
                "firmware": "bmminer 1.0.0",
                "hashrate_ths": rate,
                "hashrate_avg_ths": rate,
                "hashrate_expected_ths": expected,
                "power_w": 3250.0 if online else None,
                "efficiency_jth": 29.5 if online else None,
                "temp_inlet_c": 25.0,
                "temp_outlet_c": 60.0,
                "temp_board_max_c": 70.0 if online else None,
                "temp_chip_max_c": rng.uniform(60, 95) if online else None,
                "fans_rpm": [5400, 5460, 5520, 5580] if online else [],
                "accepted": 1000,
                "rejected": 3,
                "hardware_errors": 0,
                "uptime_s": 86400,
                "error": None if online else "connection refused",
                "last_seen": now,
                "polled_at": now,
                "revenue_usd_day": 5.5,
                "cost_usd_day": 4.1,
                "profit_usd_day": 1.4,
                "open_alerts": 0 if online else 1,
            }
        )
    return rows


def next_sweep(rows: list[dict[str, Any]], count: int, step: float) -> list[dict[str, Any]]:
    """A sweep later: every one of `count` miners reports new hashrate, temperature and time."""
    rng = random.Random(int(step))
    out = []
    for row in rows[:count]:
        rate = row["hashrate_ths"]
        chip = row["temp_chip_max_c"]
        out.append(
            row
            | {
                "hashrate_ths": None if rate is None else rate * rng.uniform(0.98, 1.02),
                "temp_chip_max_c": None if chip is None else chip + rng.uniform(-1, 1),
                "polled_at": row["polled_at"] + step,
            }
        )
    return out


def cells(row: dict[str, Any], columns: list[Any]) -> list[str]:
    return [column.cell(row)[0] for column in columns]


class BenchApp(App[None]):
    def __init__(self, kind: str, model: FleetModel | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.model = model or FleetModel()

    def compose(self) -> ComposeResult:
        if self.kind == "table":
            yield FleetTable(self.model)
        elif self.kind == "grid":
            yield FleetGrid(self.model)
        else:
            yield DataTable()


class Timer:
    """Wall and CPU time of one block (CPU time is steadier when other work loads the box)."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = (time.perf_counter() - self.wall0) * 1000
        self.cpu = (time.process_time() - self.cpu0) * 1000


Figure = tuple[float, float]  # (wall ms, cpu ms)


def median(samples: list[Timer]) -> Figure:
    return statistics.median(t.wall for t in samples), statistics.median(t.cpu for t in samples)


async def median_ms(run: Callable[[], Awaitable[None]], repeat: int) -> Figure:
    samples = []
    for _ in range(repeat):
        with Timer() as timer:
            await run()
        samples.append(timer)
    return median(samples)


def render_visible(widget: Any) -> None:
    """What a repaint costs the widget: every visible line rendered, no cached lines."""
    widget._styles_cache.clear()
    widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))


async def bench_line_widget(kind: str, rows: int, sweep: int, repeat: int) -> dict[str, Figure]:
    data = synthetic_fleet(rows)
    model = FleetModel()
    results: dict[str, Figure] = {}
    app = BenchApp(kind, model)
    async with app.run_test(size=SIZE) as pilot:
        widget = app.query_one(FleetTable if kind == "table" else FleetGrid)
        with Timer() as timer:
            model.replace_all(data)
            widget.sync()
            await pilot.pause()
        results["load"] = timer.wall, timer.cpu

        async def repaint_lines() -> None:
            render_visible(widget)

        async def repaint_frame() -> None:
            widget.refresh()
            await pilot.pause()

        results["repaint_lines"] = await median_ms(repaint_lines, repeat * 4)
        results["repaint_frame"] = await median_ms(repaint_frame, repeat * 2)
        current = data
        applied, total = [], []
        for i in range(repeat):
            batch = next_sweep(current, sweep, 10.0 * (i + 1))
            current = batch + current[sweep:]
            with Timer() as whole:
                with app.batch_update():
                    with Timer() as merge:
                        changed = model.apply_updates(batch)
                    widget.sync(changed)
                await pilot.pause()
            applied.append(merge)
            total.append(whole)
        results["apply"] = median(applied)
        results["apply_and_repaint"] = median(total)
        model.set_sort("hashrate_ths", desc=True)  # every sweep now moves rows
        widget.sync()
        resorted = []
        for i in range(repeat):
            batch = next_sweep(current, sweep, 1000.0 + 10.0 * i)
            current = batch + current[sweep:]
            with Timer() as timer:
                with app.batch_update():
                    widget.sync(model.apply_updates(batch))
                await pilot.pause()
            resorted.append(timer)
        results["apply_resort_and_repaint"] = median(resorted)
        model.set_sort("location", desc=False)
        widget.sync()
        fields = READING_FIELDS
        readings = []
        for i in range(repeat):
            batch = next_sweep(current, sweep, 2000.0 + 10.0 * i)
            current = batch + current[sweep:]
            rows = [[row["id"], *(row.get(name) for name in fields)] for row in batch]
            stamp = batch[0]["polled_at"]
            with Timer() as timer:
                with app.batch_update():
                    widget.sync(model.apply_readings(fields, rows, stamp))
                    widget.refresh()
                await pilot.pause()
            readings.append(timer)
        results["readings_and_repaint"] = median(readings)
    return results


async def bench_datatable(rows: int, sweep: int, repeat: int) -> dict[str, Figure]:
    data = synthetic_fleet(rows)
    columns = fit_columns(SIZE[0])
    results: dict[str, Figure] = {}
    app = BenchApp("datatable")
    async with app.run_test(size=SIZE) as pilot:
        table: DataTable[str] = app.query_one(DataTable)
        keys = [table.add_column(column.label, key=column.key) for column in columns]
        with Timer() as timer:
            table.add_rows(cells(row, columns) for row in data)
            await pilot.pause()
        results["load"] = timer.wall, timer.cpu
        row_keys = list(table.rows)

        async def repaint_lines() -> None:
            table._line_cache.clear()
            table._row_render_cache.clear()
            table._cell_render_cache.clear()
            render_visible(table)

        async def repaint_frame() -> None:
            table.refresh()
            await pilot.pause()

        results["repaint_lines"] = await median_ms(repaint_lines, repeat * 4)
        results["repaint_frame"] = await median_ms(repaint_frame, repeat * 2)
        index = {column.key: keys[i] for i, column in enumerate(columns)}
        by_key = {column.key: column for column in columns}
        watched = [k for k in DATATABLE_UPDATED if k in index]
        current = data
        samples = []
        for i in range(max(1, repeat // 2)):  # slow: fewer runs
            batch = next_sweep(current, sweep, 10.0 * (i + 1))
            current = batch + current[sweep:]
            with Timer() as timer:
                with app.batch_update():
                    for row_key, row in zip(row_keys, batch, strict=False):
                        for key in watched:
                            table.update_cell(row_key, index[key], by_key[key].cell(row)[0])
                await pilot.pause()
            samples.append(timer)
        results["apply_and_repaint"] = median(samples)
        with Timer() as timer:
            with app.batch_update():
                table.clear()
                table.add_rows(cells(row, columns) for row in current)
            await pilot.pause()
        results["rebuild_and_repaint"] = timer.wall, timer.cpu
    return results


def line(label: str, ours: Figure, theirs: Figure | None = None) -> str:
    text = f"  {label:<46} {ours[1]:>9.2f} ms cpu ({ours[0]:>8.2f} wall)"
    if theirs is not None:
        text += f"   DataTable {theirs[1]:>9.2f} ms cpu ({theirs[0]:>8.2f} wall)"
        text += f"   ratio {theirs[1] / max(ours[1], 1e-6):>6.1f}x"
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sweep", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-datatable", action="store_true")
    args = parser.parse_args()
    print(
        f"fleet console bench: {args.rows} rows, sweep of {args.sweep}, terminal {SIZE}, "
        f"median of {args.repeat}+ runs, load average {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cores"
    )
    table_sweep = await bench_line_widget("table", args.sweep, args.sweep, args.repeat)
    grid_sweep = await bench_line_widget("grid", args.sweep, args.sweep, args.repeat)
    table_big = await bench_line_widget("table", args.rows, args.sweep, args.repeat)
    dts: dict[str, Figure] = {}
    dtb: dict[str, Figure] = {}
    if not args.no_datatable:
        dts = await bench_datatable(args.sweep, args.sweep, args.repeat)
        dtb = await bench_datatable(args.rows, args.sweep, args.repeat)
    print(f"\none sweep of {args.sweep} miner updates on a fleet of {args.sweep}")
    print(line("apply to the model (FleetModel.apply_updates)", table_sweep["apply"]))
    print(
        line(
            "apply + table repaint (one batch_update)",
            table_sweep["apply_and_repaint"],
            dts.get("apply_and_repaint"),
        )
    )
    print(line("apply + grid repaint", grid_sweep["apply_and_repaint"]))
    print(
        line(
            "fleet.readings sweep + table repaint (console)",
            table_sweep["readings_and_repaint"],
        )
    )
    readings_cpu = table_sweep["readings_and_repaint"][1]
    if args.sweep == 10_000:
        print(
            f"  {'':<46} budget {READINGS_BUDGET_MS:.0f} ms: "
            f"{readings_cpu / READINGS_BUDGET_MS:.2f}x of it "
            f"({'within' if readings_cpu < READINGS_BUDGET_MS else 'OVER'}); "
            f"baseline {READINGS_BASELINE_MS} ms: {READINGS_BASELINE_MS / readings_cpu:.1f}x faster"
        )
    else:
        print(f"  {'':<46} (budget and baseline are for a sweep of 10,000)")
    print(
        line(
            "apply + re-sort by TH/s + table repaint",
            table_sweep["apply_resort_and_repaint"],
            dts.get("rebuild_and_repaint"),
        )
    )
    print(f"\nrepaint with {args.rows} rows")
    print(line("visible lines rendered", table_big["repaint_lines"], dtb.get("repaint_lines")))
    print(line("refresh -> painted frame", table_big["repaint_frame"], dtb.get("repaint_frame")))
    print(line("first load of every row", table_big["load"], dtb.get("load")))
    print(
        line(
            f"apply a sweep of {args.sweep} + repaint",
            table_big["apply_and_repaint"],
            dtb.get("apply_and_repaint"),
        )
    )
    if dts:
        print(
            "\n  DataTable applies a sweep with update_cell on the columns that change "
            f"({', '.join(DATATABLE_UPDATED)}) and re-sorts by clear + add_rows."
        )


if __name__ == "__main__":
    asyncio.run(main())
