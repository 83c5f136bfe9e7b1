"""Schema-driven fuzzing of the OpenAPI spec (schemathesis): no operation answers a 500.

Every operation of the partner API (keys, partners, webhooks, exports, analytics, limits, me,
health) is called with a handful of generated valid and invalid inputs against a real backend on
loopback; set HASHINSIGHT_FUZZ_ALL=1 to fuzz every router of the spec the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.core.settings import Settings
from backend.runtime import BackendThread

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")


MINE = (
    "/api/v1/keys",
    "/api/v1/partners",
    "/api/v1/webhooks",
    "/api/v1/exports",
    "/api/v1/analytics",
    "/api/v1/limits",
    "/api/v1/me",
    "/api/v1/health",
)
EXAMPLES = 2


@pytest.fixture
def live(settings: Settings) -> Iterator[BackendThread]:
    thread = BackendThread(settings, mode="serve")
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def runner(
    operation: Any, mode: Any, base_url: str, auth: dict[str, str], failures: list[str]
) -> Callable[[], None]:
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings

    @hsettings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        headers = {**(case.headers or {}), **auth}
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(
                f"{operation.label} [{mode.value}] -> {response.status_code}: {response.text[:200]}"
            )

    return run


def test_fuzzed_requests_never_get_a_500(live: BackendThread) -> None:
    from schemathesis import GenerationMode

    backend = live.backend
    key = backend.initial_operator_key
    assert key is not None
    schema = schemathesis.openapi.from_url(f"{backend.url}/api/v1/openapi.json")
    fuzz_all = os.environ.get("HASHINSIGHT_FUZZ_ALL") == "1"
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [op for op in operations if fuzz_all or op.path.startswith(MINE)]
    assert len(chosen) >= 30, [op.label for op in chosen]
    runs = 0
    for operation in chosen:
        modes = [GenerationMode.POSITIVE]
        if len(operation.query) or len(operation.body):  # invalid path ids alone: too few
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                runner(operation, mode, backend.url, {"Authorization": f"Bearer {key}"}, failures)()
            except hypothesis.errors.Unsatisfiable:
                continue  # e.g. no invalid input exists for an operation without parameters
            runs += 1
    assert runs >= len(chosen), "too few operations could be fuzzed"
    assert not failures, "\n".join(failures[:20])
