"""The package layering in pyproject.toml's [tool.importlinter] holds, and the check has teeth."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def toml_table(header: str, table: dict[str, Any]) -> str:
    """Enough TOML for import-linter's settings: strings, booleans and lists of strings."""
    lines = [header]
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n\n"


def test_the_layering_contracts_hold() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_backend_package_has_a_layer() -> None:
    """A new package left out of the layers would pass unchecked; the simulators are kept apart
    by their own contract."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in settings["contracts"] if c["id"] == "backend-layers"]
    named = {part.strip(" ()") for layer in layers["layers"] for part in layer.split("|")}
    backend = ROOT / "backend"
    present = {p.name for p in backend.iterdir() if (p / "__init__.py").exists()}
    present |= {p.stem for p in backend.glob("*.py") if p.stem != "__init__"}
    assert present - named - {"sim"} == set()


def test_a_wrong_way_import_breaks_the_check(tmp_path: Path) -> None:
    """The project's own core contract without its one exemption must catch the migrations
    script importing every table, naming the importing line; so a passing check above means
    something."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = settings.pop("contracts")
    (core,) = [contract for contract in contracts if contract["id"] == "core-bottom"]
    del core["ignore_imports"]
    config = tmp_path / "layering.toml"
    text = toml_table("[tool.importlinter]", settings)
    text += toml_table("[[tool.importlinter.contracts]]", core)
    config.write_text(text)

    result = lint_imports(str(config))

    assert result.returncode != 0
    assert "1 broken" in result.stdout, result.stdout + result.stderr
    assert "backend.core.migrations.env -> backend.models" in result.stdout


def test_the_runtime_knows_no_simulator() -> None:
    """The demo's simulators come in through `World` from the demo command, not the runtime."""
    source = (ROOT / "backend" / "runtime.py").read_text()
    assert "backend.sim" not in source
