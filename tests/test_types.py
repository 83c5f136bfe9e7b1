"""The type checker runs as part of the suite: the contract and the SDK stay strictly typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_configured_packages_type_check() -> None:
    result = run_mypy()  # files and strictness come from [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrongly_typed_model_fails_the_check(tmp_path: Path) -> None:
    """The check is real: the same configuration refuses a model whose default breaks its type."""
    bad = tmp_path / "bad_contract.py"
    bad.write_text(
        "from pydantic import BaseModel\n\n\n"
        "class Wrong(BaseModel):\n"
        "    count: int = 'three'\n\n\n"
        "def untyped(x):\n"
        "    return x\n"
    )
    result = run_mypy(
        "--config-file", str(ROOT / "pyproject.toml"), "--strict", str(bad), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "bad_contract.py:5" in result.stdout
    assert "untyped" in result.stdout
