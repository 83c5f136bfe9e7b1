"""The one policy for untrusted JSON: size and depth bounded before parsing, plain errors."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from backend.core.untrusted import (
    PYTHON_RECURSION_LIMIT,
    UntrustedInputError,
    check_bounds,
    loads,
    nesting_depth,
)


def test_depth_is_measured_outside_strings() -> None:
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth(b'["\\"]]]]", [[]]]') == 3
    assert nesting_depth("no brackets") == 0


def test_depth_of_malformed_and_hostile_text_is_measured_in_linear_time() -> None:
    # An unterminated string full of escaped quotes: a naive string regex is quadratic on it.
    assert nesting_depth('["' + '\\"' * 200_000) == 1
    assert nesting_depth("[" * 300_000) == 300_000


def test_deep_documents_are_refused_without_recursion() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(UntrustedInputError, match="nested deeper than 64 levels"):
        loads(deep)
    assert loads("[" * 64 + "]" * 64) is not None
    with pytest.raises(UntrustedInputError, match="nested deeper than 10"):
        check_bounds("[" * 11 + "]" * 11, max_depth=10)


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(UntrustedInputError) as refused:
        loads(b" " * 2048 + b"{}", max_bytes=1024, what="body")
    assert refused.value.too_large
    assert str(refused.value) == "body too large: 2050 bytes, the limit is 1024"


@pytest.mark.parametrize(
    "text",
    ["[NaN]", "[Infinity]", '{"a": 1e999}', "[1,", "\xff", '{"n": ' + "9" * 5000 + "}", "", "}"],
)
def test_malformed_or_non_finite_json_is_a_plain_error(text: str) -> None:
    with pytest.raises(UntrustedInputError, match="is not valid JSON"):
        loads(text.encode("utf-8", "surrogateescape") if text == "\xff" else text)


def test_errors_never_echo_the_input() -> None:
    secret = "hsk_abcdef123456_" + "f" * 64
    for text in (f'{{"key": "{secret}"', f'["{secret}", NaN]', f"{secret}"):
        with pytest.raises(UntrustedInputError) as refused:
            loads(text)
        assert secret not in str(refused.value)


def test_decimal_mode_keeps_amounts_exact_and_is_bounded_too() -> None:
    assert loads(b'{"size": 0.1}', decimal=True) == {"size": Decimal("0.1")}
    with pytest.raises(UntrustedInputError, match="not valid JSON"):
        loads("[NaN]", decimal=True)
    with pytest.raises(UntrustedInputError, match="nested deeper"):
        loads("[" * 1000 + "]" * 1000, decimal=True)


def test_importing_the_backend_leaves_the_recursion_limit_at_the_default() -> None:
    """py_ecc and py-evm raise it at import; with 100,000 a deep document overflowed the C stack."""
    code = (
        "import asyncio, sys, backend.runtime, web3, hashinsight_cli.main\n"
        "from backend.notary.anchor import embedded_chain\n"
        "from backend.core.health import HealthRegistry\n"
        "from backend.core.bus import EventBus\n"
        "asyncio.run(embedded_chain(HealthRegistry(EventBus()), 60.0).info())\n"
        "print(sys.getrecursionlimit())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(PYTHON_RECURSION_LIMIT)
