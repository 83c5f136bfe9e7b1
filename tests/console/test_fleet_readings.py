"""Each sweep's `fleet.readings` in the Fleet screen's model: a changed reading is kept until a row
is read, yet everything a person sees (a row, the order, a filter, the grid) is as of the sweep."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from hashinsight_tui.fleet_model import FleetModel
from hashinsight_tui.widgets.fleet_grid import STATUS_COLOURS, FleetGrid, cell_style
from hashinsight_tui.widgets.fleet_table import FleetTable
from tests.console.test_fleet_widgets import fleet, miner

FIELDS = ("status", "hashrate_ths", "temp_chip_max_c", "error")


def reading(
    index: int, status: str = "online", rate: float | None = 100.0, chip: float = 60.0
) -> list[Any]:
    return [f"10.0.0.{index}:4028", status, rate, chip, None]


def sweep(model: FleetModel, polled_at: float, **rows: list[Any]) -> set[str]:
    return model.apply_readings(FIELDS, list(rows.values()), polled_at)


def test_a_row_read_after_a_sweep_holds_that_sweeps_readings() -> None:
    model = fleet(3)
    assert sweep(model, 1010.0, a=reading(0, rate=90.5), b=reading(1, chip=88.0)) == {
        "10.0.0.0:4028",
        "10.0.0.1:4028",
    }
    row = model.get("10.0.0.0:4028")
    assert row is not None and row["hashrate_ths"] == 90.5 and row["polled_at"] == 1010.0
    assert row["model"] == "Whatsminer M30S"  # labels are not in a reading: kept
    assert model.miners["10.0.0.1:4028"]["temp_chip_max_c"] == 88.0
    assert model.miners["10.0.0.2:4028"]["hashrate_ths"] == 102.0  # not polled: untouched


def test_a_late_older_sweep_never_overwrites_a_newer_one() -> None:
    model = fleet(2)
    sweep(model, 1020.0, a=reading(0, rate=50.0))
    assert sweep(model, 1010.0, a=reading(0, rate=99.0)) == set()
    assert model.miners["10.0.0.0:4028"]["hashrate_ths"] == 50.0
    assert model.polled_at("10.0.0.0:4028") == 1020.0


def test_miner_updates_and_readings_take_the_newest_of_the_two() -> None:
    model = fleet(2)
    sweep(model, 1010.0, a=reading(0, status="offline"))
    older = miner(0, status="online", polled_at=1005.0)
    assert model.apply_updates([older]) == set()  # older than the sweep: ignored
    assert model.miners["10.0.0.0:4028"]["status"] == "offline"
    newer = miner(0, status="sleeping", polled_at=1015.0)
    assert model.apply_updates([newer]) == {"10.0.0.0:4028"}
    sweep(model, 1012.0, a=reading(0, status="error"))  # between the two: too old
    assert model.miners["10.0.0.0:4028"]["status"] == "sleeping"


def test_a_sweep_moves_rows_only_when_the_sorted_value_moved() -> None:
    model = fleet(3)
    model.set_sort("hashrate_ths", desc=True)
    assert model.order[0] == "10.0.0.2:4028"
    version = model.version
    sweep(model, 1010.0, a=reading(0, rate=100.0, chip=70.0))  # TH/s as before, chip moved
    assert model.version == version
    assert model.miners["10.0.0.0:4028"]["temp_chip_max_c"] == 70.0
    sweep(model, 1020.0, a=reading(0, rate=500.0, chip=70.0))
    assert model.order[0] == "10.0.0.0:4028"
    sweep(model, 1030.0, a=reading(0, rate=1.0, chip=70.0))  # against the pending reading
    assert model.order[-1] == "10.0.0.0:4028"


def test_a_filtered_row_leaves_when_a_reading_changes_it() -> None:
    model = fleet(4)
    model.set_filter("status=offline")
    assert model.order == []
    sweep(model, 1010.0, a=reading(1, status="offline"))
    assert model.order == ["10.0.0.1:4028"]
    model.set_filter("offline")  # free text
    sweep(model, 1020.0, a=reading(1, status="online"))
    assert model.order == []


class Views(App[None]):
    def __init__(self, model: FleetModel) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        yield FleetTable(self.model)
        yield FleetGrid(self.model)


async def test_table_and_grid_show_the_last_sweep() -> None:
    import time

    now = time.time()
    model = FleetModel()
    model.replace_all(miner(i, polled_at=now - 60) for i in range(4))
    model.interval_s = 10.0
    app = Views(model)
    async with app.run_test(size=(120, 20)) as pilot:
        table, grid = app.query_one(FleetTable), app.query_one(FleetGrid)
        await pilot.pause()
        assert "1m!" in table.render_line(1).text  # a minute old: stale
        changed = sweep(model, now, a=reading(0, status="offline", rate=None))
        table.sync(changed)
        grid.sync(changed)
        await pilot.pause()
        line = table.render_line(1 + model.index["10.0.0.0:4028"]).text
        assert "offline" in line and "!" not in line.split("4028", 1)[1]
        assert grid.site_stats["A"].online == 1  # miners 0 and 2 on site A; 0 went offline
        offline = cell_style(model.miners["10.0.0.0:4028"], "status")
        assert offline == STATUS_COLOURS["offline"]
