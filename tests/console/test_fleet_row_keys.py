"""The Fleet screen keeps plain dict rows (10,000 merged a sweep within its budget), so the
type checker cannot tell it a field was renamed: this test does. Every key the Fleet modules
read from a row, a board, a pool, a command, an alert or the summary must be a field of the
contract model that row comes from; a misspelt or renamed key would silently show "—"."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hashinsight_contract.events import POOL_COUNTS, READING_FIELDS
from hashinsight_contract.fleet import (
    AlertOut,
    BoardOut,
    CapabilityOut,
    CommandOut,
    FleetSummary,
    MinerOut,
    PoolOut,
    SummaryCoverage,
    SweepOut,
)

ROOT = Path(__file__).resolve().parents[2]
FLEET_MODULES = (
    "hashinsight_tui/fleet_model.py",
    "hashinsight_tui/screens/fleet.py",
    "hashinsight_tui/screens/miner_detail.py",
    "hashinsight_tui/widgets/fleet_grid.py",
    "hashinsight_tui/widgets/fleet_summary.py",
    "hashinsight_tui/widgets/fleet_table.py",
    "hashinsight_tui/widgets/fleet_view.py",
)
MINER_KEYS = frozenset(MinerOut.model_fields) | frozenset(POOL_COUNTS)
# The name a row goes by in these modules -> the keys it may have.
ROWS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("miner", "m", "merged", "item", "old", "candidate", "newest"), MINER_KEYS),
    **dict.fromkeys(("board", "b"), frozenset(BoardOut.model_fields)),
    "pool": frozenset(PoolOut.model_fields),
    "capability": frozenset(CapabilityOut.model_fields),
    **dict.fromkeys(("entry", "r", "result"), frozenset(CommandOut.model_fields)),
    **dict.fromkeys(("alert", "a", "e"), frozenset(AlertOut.model_fields)),
    "summary": frozenset(FleetSummary.model_fields),
    "coverage": frozenset(SummaryCoverage.model_fields),
    "sweep": frozenset(SweepOut.model_fields),
}
# The Fleet table's cell makers: `_plain("power_w")` draws `miner["power_w"]`.
CELL_MAKERS = frozenset({"_plain", "_temp", "_text"})


def keys_read(source: str) -> list[tuple[str, str, int]]:
    """(name, key, line) for each `name["key"]` and `name.get("key")` in the source, and
    ("miner", key, line) for each cell maker's `_plain("key")`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            found.append((node.value.id, node.slice.value, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.func.value.id, node.args[0].value, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in CELL_MAKERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(("miner", node.args[0].value, node.lineno))
    return found


def test_readings_carry_miner_fields_only() -> None:
    assert set(READING_FIELDS) <= MINER_KEYS
    assert set(POOL_COUNTS) <= set(READING_FIELDS)


@pytest.mark.parametrize("module", FLEET_MODULES)
def test_every_key_read_is_a_contract_field(module: str) -> None:
    unknown = [
        f"{module}:{line} {name}[{key!r}]"
        for name, key, line in keys_read((ROOT / module).read_text())
        if name in ROWS and key not in ROWS[name]
    ]
    assert unknown == []


def test_the_check_sees_a_misspelt_key() -> None:
    assert keys_read('x = miner.get("hashrate_th")\ny = miner["stauts"]\nz = _temp("chip")') == [
        ("miner", "hashrate_th", 1),
        ("miner", "stauts", 2),
        ("miner", "chip", 3),
    ]
