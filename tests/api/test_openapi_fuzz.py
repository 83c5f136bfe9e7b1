"""Schema-driven fuzzing of the whole API (schemathesis): no route ever answers a 5xx but 503.

One backend runs over the simulators and is seeded with real objects (`fuzz_world`). Its spec
is fuzzed twice with every schemathesis phase (examples, coverage, fuzzing, stateful): once
with a fixed seed, so a failure reproduces, and once with a random seed, printed on failure
(replay it with HASHINSIGHT_FUZZ_SEED=<seed>). Besides "not a server error" the responses must
match the spec: documented status codes, content types, headers and body schemas.

The test's copy of the spec offers the seeded ids next to each path parameter's own schema, so
generated requests reach existing miners, issues, keys... and not only their 404.
"""

from __future__ import annotations

import collections
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.fuzz_world import Seeded, fuzz_world

schemathesis = pytest.importorskip("schemathesis")

FIXED_SEED = 20_240_611
EXAMPLES = 50  # per operation and phase (fixed seed)
RANDOM_EXAMPLES = 25  # the random-seed run: a fresh sample each time, within the time budget
STATEFUL_STEPS = 6
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# Statuses that only say the request never got to an object: such an operation is not reached.
NOT_REACHED = frozenset({400, 401, 403, 404, 405, 422})
# Operations no generated request can reach, and why (their own suites cover the happy path).
UNREACHABLE = {
    "POST /api/wallet/login": "needs an Ethereum signature over a freshly issued nonce "
    "(tests/wallet signs in for real)",
}
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass
class Outcome:
    seed: int
    elapsed_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )

    def unreached(self, operations: list[str]) -> list[str]:
        return [
            label for label in operations if not set(self.statuses.get(label, {})) - NOT_REACHED
        ]

    def timings(self) -> str:
        return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.phases.items())

    def report(self) -> str:
        lines = [f"schemathesis seed {self.seed} (replay: HASHINSIGHT_FUZZ_SEED={self.seed})"]
        return "\n".join(lines + self.failures[:25] + self.errors[:10])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with fuzz_world(tmp_path_factory.mktemp("fuzz")) as seeded:
        yield seeded


def fetch_spec(seeded: Seeded) -> dict[str, Any]:
    return httpx.get(f"{seeded.url}/api/v1/openapi.json", trust_env=False, timeout=30).json()


def body_fields(spec: dict[str, Any]) -> dict[str, set[str]]:
    """The JSON body's property names of each operation, by label."""
    components = spec.get("components", {}).get("schemas", {})
    fields: dict[str, set[str]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            for option in [schema, *schema.get("anyOf", [])]:
                ref = option.get("$ref", "")
                properties = components.get(ref.rsplit("/", 1)[-1], option).get("properties", {})
                fields.setdefault(f"{method.upper()} {path}", set()).update(properties)
    return fields


def offer_seeded_values(schema: Any, seeded: Seeded, spec: dict[str, Any]) -> None:
    """Let generated path parameters, query parameters and body properties take a seeded value
    (an existing miner, key, issue...) as often as not, so requests reach real objects. The spec
    itself stays as the backend serves it."""
    from hypothesis import strategies as st

    fields = body_fields(spec)

    def mix(values: dict[str, Any], names: set[str]) -> Any:
        parts: dict[str, Any] = {}
        for name in set(values) | (names & set(seeded.ids)):
            own = [st.just(values[name])] if name in values else []
            seeded_values = seeded.ids.get(name)
            if seeded_values:
                parts[name] = st.one_of(*own, st.sampled_from(seeded_values))
            else:
                parts[name] = own[0]
        return st.fixed_dictionaries(parts)

    @schema.hook
    def flatmap_path_parameters(_context: Any, path_parameters: Any) -> Any:
        return mix(path_parameters or {}, set()) if path_parameters else st.just(path_parameters)

    @schema.hook
    def flatmap_query(_context: Any, query: Any) -> Any:
        return mix(query, set()) if isinstance(query, dict) else st.just(query)

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        if not isinstance(body, dict):
            return st.just(body)
        return mix(body, fields.get(context.operation.label, set()))


def make_schema(seeded: Seeded, seed: int, phases: tuple[str, ...], examples: int) -> Any:
    checks: dict[str, Any] = {name: {"enabled": name in CHECKS} for name in _all_checks()}
    checks["not_a_server_error"] = {
        "enabled": True,
        "expected-statuses": ["1xx", "2xx", "3xx", "4xx", "503"],  # 503: dependency down, fine
    }
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "base-url": seeded.url,
            "headers": {"Authorization": f"Bearer {seeded.key}"},
            "generation": {"max-examples": examples, "database": "none"},
            "checks": checks,
            "phases": {
                **{name: {"enabled": name in phases} for name in ALL_PHASES},
                "stateful": {"enabled": "stateful" in phases, "max-steps": STATEFUL_STEPS},
            },
            "request-timeout": 30,
            "workers": 1,
        }
    )
    spec = fetch_spec(seeded)
    schema = schemathesis.openapi.from_dict(spec, config=config)
    offer_seeded_values(schema, seeded, spec)
    return schema


def _all_checks() -> list[str]:
    from schemathesis.config._checks import _BUILTIN_CHECK_CONFIGS  # every built-in check

    return list(_BUILTIN_CHECK_CONFIGS)


def _label(recorder: Any, case_id: str) -> str:
    node = recorder.cases.get(case_id)
    case = getattr(node, "value", None)
    operation = getattr(case, "operation", None)
    return getattr(operation, "label", None) or recorder.label


def run_schemathesis(
    seeded: Seeded, seed: int, phases: tuple[str, ...], examples: int = EXAMPLES
) -> Outcome:
    from schemathesis.engine import events, from_schema
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

    outcome = Outcome(seed=seed)
    schema = make_schema(seeded, seed, phases, examples)
    protect = _protect_own_key(seeded)
    started = time.monotonic()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.PhaseStarted):
                outcome.phases[event.phase.name.value] = time.monotonic()
            elif isinstance(event, events.PhaseFinished):
                name = event.phase.name.value
                outcome.phases[name] = time.monotonic() - outcome.phases.get(name, started)
            recorder = getattr(event, "recorder", None)
            if recorder is not None:
                _collect(outcome, recorder)
            if isinstance(event, events.NonFatalError):
                outcome.errors.append(f"error in {event.label}: {event.value!r}"[:400])
            elif isinstance(event, events.FatalError):
                outcome.errors.append(f"fatal: {event.exception!r}"[:400])
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(protect)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _collect(outcome: Outcome, recorder: Any) -> None:
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            outcome.statuses[_label(recorder, case_id)][interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status.name != "FAILURE":
                continue
            interaction = recorder.interactions.get(case_id)
            request = interaction.request if interaction else None
            response = interaction.response if interaction else None
            outcome.failures.append(
                f"{_label(recorder, case_id)}: {check.name} on "
                f"{request.method if request else '?'} {request.uri if request else '?'}"
                f" body={(request.body or b'')[:200]!r} -> "
                f"{response.status_code if response else '-'} "
                f"{(response.content or b'')[:200]!r}"
                if response
                else f"{_label(recorder, case_id)}: {check.name}"
            )


def _protect_own_key(seeded: Seeded) -> Any:
    """Point requests that would revoke or change the fuzzer's own key at a seeded one instead,
    so the run goes on with a working key (the fuzzer may still revoke every other key); the
    same for the wallet session: a fuzzed logout ends a spare one."""
    spare = seeded.ids["key_id"][-1]

    @schemathesis.hook
    def before_call(_context: Any, case: Any, **_kwargs: Any) -> None:
        if (case.path_parameters or {}).get("key_id") == seeded.key_id:
            case.path_parameters["key_id"] = spare
        if case.operation.path.startswith("/api/wallet/"):
            session = seeded.wallet_session
            if case.operation.path == "/api/wallet/logout":
                session = seeded.spare_wallet_session
            case.headers = {**(case.headers or {}), "X-Wallet-Session": session or ""}

    return before_call


def _operations(seeded: Seeded) -> list[str]:
    spec = fetch_spec(seeded)
    return [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


@pytest.mark.timeout(900)  # ~2 minutes alone on 2 cores; more on a loaded machine
def test_fuzz_with_a_fixed_seed(world: Seeded) -> None:
    seed = int(os.environ.get("HASHINSIGHT_FUZZ_SEED", FIXED_SEED))
    outcome = run_schemathesis(world, seed, ALL_PHASES)
    print(f"schemathesis seed {seed}: {outcome.elapsed_s:.1f} s {outcome.timings()}")
    assert not outcome.failures and not outcome.errors, outcome.report()
    unreached = [op for op in outcome.unreached(_operations(world)) if op not in UNREACHABLE]
    statuses = {label: dict(outcome.statuses.get(label, {})) for label in unreached}
    assert not unreached, f"never reached an existing object: {statuses}\n{outcome.report()}"


@pytest.mark.timeout(900)
def test_fuzz_with_a_random_seed(world: Seeded) -> None:
    """Only the seeded phases: examples and coverage are the same whatever the seed."""
    seed = random.SystemRandom().randrange(2**32)
    outcome = run_schemathesis(world, seed, ("fuzzing", "stateful"), RANDOM_EXAMPLES)
    print(f"schemathesis seed {seed}: {outcome.elapsed_s:.1f} s {outcome.timings()}")
    assert not outcome.failures and not outcome.errors, outcome.report()
