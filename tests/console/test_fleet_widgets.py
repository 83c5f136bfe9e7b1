"""The Fleet screen's model and widgets, driven in a small Textual app over plain in-memory data."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from hashinsight_tui.fleet_model import FleetModel, natural_key, page_items, parse_filter_words
from hashinsight_tui.screens.fleet import describe_results
from hashinsight_tui.screens.miner_detail import chip_map, merged_log
from hashinsight_tui.store import Store
from hashinsight_tui.widgets.fleet_grid import FleetGrid, cell_style, temp_colour
from hashinsight_tui.widgets.fleet_summary import summary_text
from hashinsight_tui.widgets.fleet_table import FleetTable, fit_columns, fmt_hashrate
from hashinsight_tui.widgets.sparkline import Sparkline, block_line, braille_lines, resample


def miner(index: int, **fields: Any) -> dict[str, Any]:
    site = "A" if index % 2 == 0 else "B"
    base: dict[str, Any] = {
        "id": f"10.0.0.{index}:4028",
        "host": f"10.0.0.{index}",
        "port": 4028,
        "site": site,
        "rack": f"R{index % 3 + 1}",
        "position": str(index),
        "status": "online",
        "model": "Antminer S19 Pro" if index % 3 else "Whatsminer M30S",
        "firmware": "bmminer 1.0",
        "hashrate_ths": 100.0 + index,
        "hashrate_expected_ths": 110.0,
        "power_w": 3250.0,
        "efficiency_jth": 29.5,
        "temp_chip_max_c": 60.0 + index,
        "temp_board_max_c": 55.0,
        "temp_inlet_c": 25.0,
        "fans_rpm": [5000, 5100],
        "uptime_s": 3600,
        "profit_usd_day": 1.5,
        "open_alerts": 0,
        "error": None,
        "polled_at": 1000.0,
    }
    return base | fields


def fleet(count: int) -> FleetModel:
    model = FleetModel()
    model.replace_all(miner(i) for i in range(count))
    return model


# --- the model ---------------------------------------------------------------------------------


def test_apply_updates_reports_only_changed_rows_and_ignores_older_ones() -> None:
    model = fleet(5)
    same = miner(1)
    newer = miner(2, hashrate_ths=1.0, polled_at=1010.0)
    older = miner(3, status="offline", polled_at=900.0)
    assert model.apply_updates([same, newer, older]) == {"10.0.0.2:4028"}
    assert model.miners["10.0.0.2:4028"]["hashrate_ths"] == 1.0
    assert model.miners["10.0.0.3:4028"]["status"] == "online"
    # The very same objects offered again cost nothing and change nothing.
    assert model.apply_updates([same, newer, older]) == set()


def test_partial_update_merges_into_the_row() -> None:
    model = fleet(2)
    changed = model.apply_updates([{"id": "10.0.0.1:4028", "status": "offline", "polled_at": 2e3}])
    assert changed == {"10.0.0.1:4028"}
    row = model.miners["10.0.0.1:4028"]
    assert row["status"] == "offline" and row["model"] == "Antminer S19 Pro"


def test_new_miner_from_the_stream_is_inserted_in_order() -> None:
    model = fleet(3)
    version = model.version
    model.apply_updates([miner(7)])
    assert model.version > version
    assert "10.0.0.7:4028" in model.order


def test_sort_puts_missing_values_last_both_ways() -> None:
    model = fleet(4)
    model.apply_updates([miner(2, temp_chip_max_c=None, polled_at=2e3)])
    model.set_sort("temp_chip_max_c")
    assert model.order[-1] == "10.0.0.2:4028"
    assert model.order[0] == "10.0.0.0:4028"
    model.set_sort("temp_chip_max_c")  # same key again: reverse
    assert model.sort_desc
    assert model.order[0] == "10.0.0.3:4028"
    assert model.order[-1] == "10.0.0.2:4028"


def test_sort_follows_updates_of_the_sorted_field() -> None:
    model = fleet(3)
    model.set_sort("hashrate_ths", desc=True)
    assert model.order[0] == "10.0.0.2:4028"
    model.apply_updates([miner(0, hashrate_ths=500.0, polled_at=2e3)])
    assert model.order[0] == "10.0.0.0:4028"


def test_location_sort_is_natural() -> None:
    assert natural_key("R2") < natural_key("R10")
    assert natural_key("10.0.0.9:4028") < natural_key("10.0.0.10:4028")
    model = fleet(12)
    racks = [model.miners[i]["rack"] for i in model.order]
    sites = [model.miners[i]["site"] for i in model.order]
    assert sites == sorted(sites)
    assert racks[:2] == ["R1", "R1"]


def test_filters_structured_and_free_text() -> None:
    model = fleet(9)
    model.apply_updates([miner(4, status="offline", error="connection refused", polled_at=2e3)])
    model.set_filter("status=offline")
    assert model.order == ["10.0.0.4:4028"]
    model.set_filter("", {"site": "b", "model": "s19"})
    assert model.order and all(
        model.miners[i]["site"] == "B" and "S19" in model.miners[i]["model"] for i in model.order
    )
    model.set_filter("refused")
    assert model.order == ["10.0.0.4:4028"]
    model.set_filter("status=online,offline site=A")
    assert len(model.order) == 5
    model.apply_updates([miner(6, site="Site B", polled_at=2e3)])
    model.set_filter("site=b")  # one word of "Site B" is enough
    assert "10.0.0.6:4028" in model.order
    model.set_filter("nothing-matches-this")
    assert model.order == []
    assert parse_filter_words("status=offline s19 foo=bar") == (
        {"status": "offline"},
        "s19 foo=bar",
    )


def test_filtered_row_leaves_when_its_field_changes() -> None:
    model = fleet(4)
    model.set_filter("status=offline")
    assert model.order == []
    model.apply_updates([miner(1, status="offline", polled_at=2e3)])
    assert model.order == ["10.0.0.1:4028"]
    model.apply_updates([miner(1, status="online", polled_at=3e3)])
    assert model.order == []


def test_selection_and_targets() -> None:
    model = fleet(6)
    assert model.targets("10.0.0.3:4028") == ["10.0.0.3:4028"]
    assert model.targets(None) == []
    model.toggle("10.0.0.1:4028")
    model.toggle("10.0.0.2:4028")
    assert set(model.targets("10.0.0.3:4028")) == {"10.0.0.1:4028", "10.0.0.2:4028"}
    model.set_filter("site=A")  # 0, 2, 4 visible: the hidden selected miner is not a target
    assert model.targets(None) == ["10.0.0.2:4028"]
    assert model.select_visible() == 4  # 1 (hidden) + 0, 2, 4
    assert model.select_visible() == 1  # all visible were selected: toggles them off
    model.replace_all([miner(0)])  # gone miners leave the selection
    assert model.selected == set()


def test_page_items_reads_dicts_and_dataclasses() -> None:
    from dataclasses import dataclass

    @dataclass
    class Page:
        items: list[dict[str, Any]]
        total: int

    assert page_items({"items": [{"id": "a"}], "total": 1}) == ([{"id": "a"}], 1)
    assert page_items(Page([{"id": "b"}], 3)) == ([{"id": "b"}], 3)
    assert page_items([{"id": "c"}]) == ([{"id": "c"}], None)


# --- text helpers ------------------------------------------------------------------------------


def test_summary_text_never_makes_up_numbers() -> None:
    text = summary_text(
        {
            "total": 10,
            "online": 8,
            "offline": 2,
            "error": 0,
            "sleeping": 0,
            "hashrate_ths": 900.0,
            "hashrate_expected_ths": 1100.0,
            "power_kw": None,
            "efficiency_jth": None,
            "profit_usd_day": None,
            "hashprice_usd_per_th_day": None,
            "open_alerts": 3,
        }
    ).plain
    assert "8/10 online" in text and "2 offline" in text
    # the expected rate is the online miners' (the offline ones state none): it says so
    assert "900.0 TH/s of 1.10 PH/s expected from online miners (81.8%)" in text
    assert "— kW" in text and "— J/TH" in text
    assert "profit — (no hashprice)" in text
    assert "3 open alerts" in text
    assert "waiting" in summary_text(None).plain


def test_a_command_the_miner_took_but_nobody_saw_work_is_accepted_not_succeeded() -> None:
    """A green "succeeded" beside "sent, not verified" contradicted itself: until the read-back
    (or the poller) sees the effect, the log and the notice say "accepted"."""
    from hashinsight_tui.screens.miner_detail import log_line

    taken = {"miner_id": "a", "state": "succeeded", "verified": False, "command": "restart"}
    taken["verification"] = "sent, not verified: not seen back within 8s"
    text, severity = describe_results("Restart 1", [taken])
    assert text.startswith("Restart 1: 1 accepted") and severity == "warning"
    assert " accepted " in log_line(taken).plain and "succeeded" not in log_line(taken).plain
    seen = taken | {"verified": True, "verification": "verified: back 34s after the restart"}
    assert describe_results("Restart 1", [seen])[0].startswith("Restart 1: 1 succeeded")


def test_describe_results_counts_states_and_names_a_refusal() -> None:
    text, severity = describe_results(
        "Restart 3",
        [
            {"miner_id": "a", "state": "succeeded"},
            {"miner_id": "b", "state": "succeeded"},
            {"miner_id": "c", "state": "refused", "result": "access denied (45)"},
        ],
    )
    assert text.startswith("Restart 3: 1 refused, 2 succeeded")
    assert "c: access denied (45)" in text and severity == "warning"
    text, severity = describe_results("Restart 1", [{"miner_id": "a", "state": "pending_approval"}])
    assert "pending approval" in text and severity == "warning"


def test_merged_log_prefers_the_backend_entry() -> None:
    local = [{"command_id": "c1", "state": "sent", "ts": 5.0, "command": "restart"}]
    remote = [{"command_id": "c1", "state": "succeeded", "created_at": 5.0}]
    merged = merged_log(local, remote)
    assert len(merged) == 1 and merged[0]["state"] == "succeeded"
    assert merged[0]["command"] == "restart"


def test_chip_map_draws_counts_and_says_when_unknown() -> None:
    text = chip_map({"chips_expected": 6, "chips_ok": 3, "chips_failed": 2}).plain
    assert text == "●●●✕✕·"
    assert "not reported" in chip_map({"chips_expected": None, "chips_ok": None}).plain


def test_fit_columns_keeps_the_important_ones_when_narrow() -> None:
    narrow = [c.key for c in fit_columns(78)]
    assert narrow[:2] == ["status", "id"] and "hashrate_ths" in narrow
    assert sum(c.width + 1 for c in fit_columns(78)) + 2 <= 78
    assert "firmware" not in narrow
    assert "firmware" in [c.key for c in fit_columns(78, sort_key="firmware")]
    assert len(fit_columns(400)) > len(narrow)


def test_sparkline_helpers_keep_gaps() -> None:
    assert resample([1.0, None, 3.0, 5.0], 2) == [1.0, 4.0]
    assert resample([None, None], 1) == [None]
    line = block_line([1.0, None, 5.0], 3)
    assert line[0] == "▁" and line[1] == " " and line[2] == "█"
    rows = braille_lines([0.0, 10.0, None, 10.0], 2, 2)
    assert len(rows) == 2 and all(len(r) == 2 for r in rows)
    # full column on the right half of cell 0; nothing where the value is missing
    assert ord(rows[0][0]) - 0x2800 & 0xB8 and ord(rows[0][1]) - 0x2800 & 0x47 == 0
    assert fmt_hashrate(None) == "—" and fmt_hashrate(1500.0) == "1.50 PH/s"


def test_grid_colours() -> None:
    assert cell_style(miner(1, status="offline"), "status") == Style(color="red")
    assert cell_style(miner(1, hashrate_ths=10.0), "status") == Style(color="yellow")
    assert cell_style(miner(1, temp_chip_max_c=None, temp_board_max_c=None), "temperature") == (
        temp_colour(None)
    )
    assert temp_colour(99.0) != temp_colour(40.0)


# --- the widgets in an app ---------------------------------------------------------------------


class WidgetApp(App[None]):
    def __init__(self, model: FleetModel, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = kind
        self.clicked: list[str] = []
        self.activated: list[str] = []

    def compose(self) -> ComposeResult:
        if self.kind == "grid":
            yield FleetGrid(self.model)
        elif self.kind == "spark":
            yield Sparkline("TH/s", id="spark")
        else:
            yield FleetTable(self.model)

    def on_mount(self) -> None:
        for widget in self.query("FleetGrid, FleetTable"):
            widget.sync()  # type: ignore[attr-defined]
            widget.focus()

    def on_fleet_table_header_clicked(self, event: FleetTable.HeaderClicked) -> None:
        self.clicked.append(event.key)

    def on_fleet_view_activated(self, event: FleetTable.Activated) -> None:
        self.activated.append(event.miner_id)


def lines_of(widget: FleetTable | FleetGrid) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


async def test_table_renders_visible_rows_only_and_dashes_for_nulls() -> None:
    model = fleet(2000)
    model.apply_updates([miner(0, hashrate_ths=None, temp_chip_max_c=None, polled_at=2e3)])
    app = WidgetApp(model, "table")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(FleetTable)
        await pilot.pause()
        lines = lines_of(table)
        assert "Status" in lines[0] and "Miner" in lines[0] and "▲Location" in lines[0]
        assert len(lines) == 24
        first = lines[1]
        assert "10.0.0.0:4028" in first and "—" in first
        assert all(len(line) <= 80 for line in lines)
        assert table.virtual_size.height == 2001
        assert table.cursor_id == model.order[0]
        await pilot.press("down", "down")
        assert table.cursor_id == model.order[2]
        await pilot.press("end")
        assert table.cursor_id == model.order[-1]
        assert model.order[-1] in lines_of(table)[-1]  # scrolled to keep the cursor visible
        await pilot.press("home")
        assert table.cursor_id == model.order[0]


async def test_table_keeps_the_cursor_on_its_miner_across_a_resort() -> None:
    model = fleet(50)
    app = WidgetApp(model, "table")
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(FleetTable)
        await pilot.press("down", "down", "down")
        chosen = table.cursor_id
        model.set_sort("hashrate_ths", desc=True)
        table.sync()
        await pilot.pause()
        assert table.cursor_id == chosen
        assert table.cursor_row == model.index[chosen]  # type: ignore[index]


async def test_table_repaints_only_changed_visible_rows() -> None:
    model = fleet(500)
    app = WidgetApp(model, "table")
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(FleetTable)
        await pilot.pause()
        top_id = model.order[0]
        changed = model.apply_updates([miner(0, status="offline", polled_at=2e3)])
        table.sync(changed)
        await pilot.pause()
        assert "offline" in lines_of(table)[1 + model.index[top_id]]


async def test_table_header_click_and_double_click() -> None:
    model = fleet(10)
    app = WidgetApp(model, "table")
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(FleetTable)
        column = table.columns()[1]  # "Miner"
        x = 2 + table.columns()[0].width + 1 + 1
        await pilot.click(FleetTable, offset=(x, 0))
        assert app.clicked == [column.key]
        await pilot.click(FleetTable, offset=(5, 3), times=2)
        assert app.activated == [model.order[2]]


async def test_grid_groups_by_site_and_rack_and_moves_by_cell() -> None:
    model = fleet(40)
    app = WidgetApp(model, "grid")
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(FleetGrid)
        await pilot.pause()
        lines = lines_of(grid)
        assert lines[0].startswith("A · 20/20 online")
        assert lines[1].startswith("R1") and "■" in lines[1]
        sites = [line.site for line in grid.lines if line.kind == "rack"]
        assert sites == sorted(sites)
        assert sum(len(line.ids) for line in grid.lines) == 40
        first = grid.cursor_id
        assert first == grid.flat[0]
        await pilot.press("right")
        assert grid.cursor_id == grid.flat[1]
        await pilot.press("down")
        assert grid.position[grid.cursor_id][0] > grid.position[first][0]  # type: ignore[index]
        model.toggle(grid.flat[0])
        grid.refresh()
        assert "◆" in lines_of(grid)[1]
        changed = model.apply_updates(
            [dict(model.miners[grid.flat[0]], status="offline", polled_at=2e3)]
        )
        grid.sync(changed)
        assert lines_of(grid)[0].startswith("A · 19/20 online")
        assert grid.toggle_mode() == "temperature"


async def test_grid_wraps_a_long_rack_at_80_columns() -> None:
    model = FleetModel()
    model.replace_all(miner(i, site="S", rack="R1") for i in range(100))
    app = WidgetApp(model, "grid")
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.query_one(FleetGrid)
        await pilot.pause()
        racks = [line for line in grid.lines if line.kind == "rack"]
        assert len(racks) == 3  # 36 cells a line at 80 columns
        assert racks[0].label == "R1" and racks[1].label == ""
        assert all(len(line) <= 80 for line in lines_of(grid))


async def test_sparkline_widget_shows_range_or_why_not() -> None:
    app = WidgetApp(FleetModel(), "spark")
    async with app.run_test(size=(60, 10)) as pilot:
        spark = app.query_one(Sparkline)
        spark.set_series([], note="no samples in this period")
        await pilot.pause()
        assert "no samples" in str(spark.render())
        spark.set_series([100.0, None, 110.0, 105.0])
        await pilot.pause()
        rendered = str(spark.render())
        assert "now 105.0" in rendered and "max 110.0" in rendered
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in rendered)


# --- rows as of the last sweep, and their age -------------------------------------------------

READING_FIELDS = ("status", "hashrate_ths", "temp_chip_max_c", "pools_alive", "pools_total")


def test_readings_refresh_every_polled_row_even_below_any_deadband() -> None:
    model = fleet(3)
    rows = [
        ["10.0.0.0:4028", "online", 100.2, 60.4, 1, 1],  # a move no deadband would publish
        ["10.0.0.1:4028", "online", 101.0, 61.0, 1, 1],
        ["10.0.0.9:4028", "online", 1.0, 1.0, 1, 1],  # unknown: waits for the full load
    ]
    changed = model.apply_readings(READING_FIELDS, rows, 1010.0)
    assert changed == {"10.0.0.0:4028", "10.0.0.1:4028"}
    assert model.miners["10.0.0.0:4028"]["hashrate_ths"] == 100.2
    assert model.miners["10.0.0.0:4028"]["model"] == "Whatsminer M30S"  # labels kept
    assert model.polled_at("10.0.0.1:4028") == 1010.0
    assert model.polled_at("10.0.0.2:4028") == 1000.0  # not in this sweep: its own stamp
    # the same sweep again changes nothing, yet restamps the age
    assert model.apply_readings(READING_FIELDS, rows, 1020.0) == set()
    assert model.polled_at("10.0.0.1:4028") == 1020.0
    model.interval_s = 10.0
    assert not model.is_stale("10.0.0.1:4028", now=1035.0)
    assert model.is_stale("10.0.0.2:4028", now=1035.0)  # 35 s > two intervals


async def test_a_row_older_than_two_sweeps_is_dim_and_says_its_age() -> None:
    import time as _time

    now = _time.time()
    model = FleetModel()
    model.replace_all([miner(0, polled_at=now), miner(1, polled_at=now - 120)])
    model.interval_s = 10.0
    app = WidgetApp(model, "table")
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(FleetTable)
        await pilot.pause()
        assert "Age" in table.render_line(0).text
        table.move_to("10.0.0.0:4028")
        fresh, old = table.render_line(1), table.render_line(2)
        assert "10.0.0.1:4028" in old.text and "2m!" in old.text
        assert "!" not in fresh.text.split("4028", 1)[1].replace("0s", "")
        assert all(seg.style is not None and seg.style.dim for seg in list(old)[1:4])
        assert not any(seg.style is not None and seg.style.italic for seg in fresh)


def test_store_queues_every_sweeps_readings_outside_latest_and_recent() -> None:
    from hashinsight_tui.client import StreamEvent

    store = Store()
    events = [
        StreamEvent("readings", "fleet.readings", {"sweep": n, "polled_at": n, "rows": []}, 0.0)
        for n in range(1, 4)
    ]
    store.apply(events)
    pending, dropped = store.bulk_since(1)
    assert [e.data["sweep"] for e in pending] == [2, 3] and not dropped
    assert "fleet.readings" not in store.latest.get("readings", {})
    assert not store.recent.get("miners")
    late = [StreamEvent("readings", "fleet.readings", {"sweep": n}, 0.0) for n in range(4, 40)]
    store.apply(late)
    assert store.bulk_since(3)[1]  # fell behind the queue: the screen reloads everything


# --- problems are never green -------------------------------------------------------------------


async def test_hashing_nothing_or_every_pool_dead_is_a_problem_in_table_and_grid() -> None:
    model = FleetModel()
    model.replace_all(
        [
            miner(0, hashrate_ths=0.0, hashrate_avg_ths=0.0),
            miner(1, pools_alive=0, pools_total=3),
            miner(2),
        ]
    )
    green = Style(color="green")
    assert cell_style(model.miners["10.0.0.0:4028"], "status") != green
    assert cell_style(model.miners["10.0.0.1:4028"], "status") != green
    assert cell_style(model.miners["10.0.0.2:4028"], "status") == green
    app = WidgetApp(model, "table")
    async with app.run_test(size=(120, 8)) as pilot:
        table = app.query_one(FleetTable)
        await pilot.pause()
        rows = lines_of(table)[1:4]
        text = {next(w for w in line.split() if w.endswith(":4028")): line for line in rows}
        assert "● no hash" in text["10.0.0.0:4028"] and "hashing nothing" in text["10.0.0.0:4028"]
        assert "● no pool" in text["10.0.0.1:4028"] and "every pool dead" in text["10.0.0.1:4028"]
        assert "● online" in text["10.0.0.2:4028"]


# --- sorting: any column, natural order -----------------------------------------------------------


def test_ips_and_racks_sort_in_natural_order_both_ways() -> None:
    model = FleetModel()
    model.replace_all(
        [
            {"id": f"127.0.1.{n}:4028", "rack": f"R{n}", "polled_at": 1.0}
            for n in (90, 8, 10, 100, 9)
        ]
    )
    model.set_sort("id")
    assert model.order == [f"127.0.1.{n}:4028" for n in (8, 9, 10, 90, 100)]
    model.set_sort("id", desc=True)
    assert model.order == [f"127.0.1.{n}:4028" for n in (100, 90, 10, 9, 8)]
    model.set_sort("rack")
    assert [model.miners[i]["rack"] for i in model.order] == ["R8", "R9", "R10", "R90", "R100"]


def test_every_column_sorts_either_way() -> None:
    from hashinsight_tui.screens.fleet import SORT_KEYS
    from hashinsight_tui.widgets.fleet_table import COLUMN_KEYS

    model = fleet(30)
    assert set(COLUMN_KEYS) <= set(SORT_KEYS) and len(SORT_KEYS) == len(set(SORT_KEYS))
    for key in SORT_KEYS:
        for desc in (False, True):
            model.set_sort(key, desc=desc)
            assert sorted(model.order) == sorted(model.miners)
    model.set_sort("profit_usd_day")


# --- layouts that fit --------------------------------------------------------------------------


def test_essential_columns_survive_80_and_120_columns() -> None:
    from hashinsight_tui.widgets.fleet_table import fit_widths

    at80 = {c.key for c in fit_columns(79)}
    assert {"status", "id", "hashrate_ths", "temp_chip_max_c", "age", "power_w", "error"} <= at80
    wide = dict((c.key, w) for c, w in fit_widths(119))
    assert {"model", "power_w", "error", "age", "profit_usd_day"} <= set(wide)
    assert wide["model"] >= len("M31SV10")  # the maker is left out in the table
    assert wide["error"] >= len("connection refused")


# --- honest totals, truthful actions ------------------------------------------------------------


def test_summary_bar_states_power_and_profit_coverage() -> None:
    summary = {
        "total": 200,
        "online": 190,
        "hashrate_ths": 17400.0,
        "hashrate_expected_ths": 18000.0,
        "power_kw": 240.1,
        "power_estimated_kw": 380.0,
        "efficiency_jth": 39.6,
        "profit_usd_day": 120.5,
        "hashprice_usd_per_th_day": 0.0485,
        "coverage": {
            "online": 190,
            "power_measured": 74,
            "power_estimated": 116,
            "revenue": 190,
            "profit": 190,
            "profit_estimated": 116,
        },
        "open_alerts": 0,
    }
    text = summary_text(summary, now=0.0).plain
    assert "power 240.1 kW 74/190" in text and "+380.0 kW est. 116" in text
    assert "39.6 J/TH 74/190" in text
    assert "profit $120.50/day 190/190 (116 est.)" in text
    assert "$48.50/PH/day" in text and "STALE" not in text


def test_a_profit_priced_at_a_stale_hashprice_says_so_and_an_old_one_is_not_used() -> None:
    """Every price provider down for 8 minutes: the chain service still serves its last
    hashprice, marked stale; the fleet's profit says it is priced at it, and how old it is.
    Past an hour the backend stops pricing the fleet, and the bar says why."""
    base = {"total": 2, "online": 2, "open_alerts": 0, "profit_usd_day": 10.0}
    base |= {"coverage": {"online": 2, "revenue": 2, "profit": 2}}
    stale = base | {"hashprice_usd_per_th_day": 0.0562, "hashprice_as_of": 1000.0}
    text = summary_text(stale | {"hashprice_stale": True}, now=1480.0).plain
    assert "profit $10.00/day" in text and "STALE hashprice 8m" in text
    fresh = summary_text(stale | {"hashprice_stale": False}, now=1005.0).plain
    assert "STALE" not in fresh
    stopped = summary_text(base | {"stale": 2, "sweep": {"started_at": 1000.0}}, now=1300.0)
    assert "2 not polled (no collector)" in stopped.plain and "5m ago" in stopped.plain
    old = base | {"profit_usd_day": None, "hashprice_usd_per_th_day": None}
    text = summary_text(old | {"hashprice_as_of": 1000.0, "hashprice_stale": True}, now=9000.0)
    assert "profit — (hashprice 2.2h old, not used)" in text.plain


def test_dead_board_is_a_problem_and_verification_reaches_the_outcome() -> None:
    from hashinsight_tui.screens.fleet import unsupported
    from hashinsight_tui.screens.miner_detail import boards_view, log_line

    boards = [
        {"index": 0, "chips_expected": 63, "chips_ok": 63, "chips_failed": 0},
        {"index": 1, "chips_expected": None, "chips_ok": 0, "chips_failed": 0},
    ]
    from rich.console import Console

    console = Console(width=120, color_system=None)
    with console.capture() as capture:
        console.print(boards_view(boards))
    out = capture.get()
    assert "Board 1  0/63 chips — dead board" in out and "0/— chips ok" not in out

    text, severity = describe_results(
        "Switch pool on 1",
        [{"state": "succeeded", "verified": True, "verification": "verified: active pool 2"}],
    )
    assert text.endswith("verified: active pool 2") and severity == "information"
    text, severity = describe_results(
        "Restart 1",
        [{"state": "succeeded", "verified": False, "verification": "sent, not verified"}],
    )
    assert "sent, not verified" in text and severity == "warning"
    entry = {"state": "succeeded", "command": "restart", "verification": "verified: uptime reset"}
    assert "verified: uptime reset" in log_line(entry).plain

    capabilities = {"restart": {"supported": False, "reason": "Whatsminer API refuses reboot"}}
    assert unsupported({"capabilities": capabilities}, "restart") == "Whatsminer API refuses reboot"
    assert unsupported({"capabilities": capabilities}, "sleep") is None
    assert unsupported({}, "restart") is None  # an older backend: offered as before


async def test_a_clock_tick_repaints_only_the_ages_that_moved_on(monkeypatch: Any) -> None:
    clock = [5003.2]
    model = FleetModel()
    model.replace_all(
        [miner(0, polled_at=5000.0), miner(1, polled_at=4983.9), miner(2, polled_at=4000.0)]
    )
    model.interval_s = 10.0  # stale after 20 s
    fresh, turning, old = (1 + model.index[miner(i)["id"]] for i in range(3))  # their lines
    app = WidgetApp(model, "table")
    async with app.run_test(size=(120, 8)) as pilot:
        table = app.query_one(FleetTable)
        table.clock = lambda: clock[0]
        table.refresh()
        await pilot.pause()
        assert "3s" in table.render_line(fresh).text and "19s" in table.render_line(turning).text
        refreshed: list[Region] = []
        real = table.refresh

        def spy(*regions: Region, **options: Any) -> Any:
            refreshed.extend(regions)
            return real(*regions, **options)

        monkeypatch.setattr(table, "refresh", spy)
        table.tick()
        assert refreshed == []  # the same second: nothing on screen moved on
        clock[0] = 5004.2
        table.tick()
        x, width = table._age_span()  # type: ignore[misc]
        # 3s -> 4s: its Age cell only; 19s -> 20s! (now stale, dimmed): its whole line;
        # 17m stays 17m: nothing.
        assert sorted(refreshed) == sorted(
            [Region(0, turning, table.size.width, 1), Region(x, fresh, width, 1)]
        )
        await pilot.pause()
        assert "4s" in table.render_line(fresh).text
        assert "20s!" in table.render_line(turning).text
        assert "17m!" in table.render_line(old).text
