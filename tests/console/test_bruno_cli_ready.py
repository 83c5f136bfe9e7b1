"""The HTTP collection is runnable by the Bruno CLI (`bru run`), and the generator writes requests
that stay so: query params in the URL (the CLI sends only the URL), an `assert` block on every
request, no WebSocket request (the CLI cannot send them), no placeholder ids that only exist on
one machine. The end-to-end run against the demo is `scripts/bru_demo_check.sh`; the last test
runs it when the Bruno CLI is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from hashinsight_tui.bruno import (
    Environment,
    expected_answer,
    generate,
    load_collection,
    load_collections,
    parse_blocks,
    parse_request,
    request_text,
)
from hashinsight_tui.screens.playground import COLLECTION_DIR, WS_COLLECTION_DIR

REPO = COLLECTION_DIR.parents[1]


def request_files() -> list[Path]:
    return [
        p
        for p in sorted(COLLECTION_DIR.rglob("*.bru"))
        if p.parent.name != "environments" and p.name not in ("collection.bru", "folder.bru")
    ]


def test_every_request_sends_its_query_in_the_url_and_asserts_its_answer() -> None:
    files = request_files()
    assert len(files) > 60
    for path in files:
        text = path.read_text(encoding="utf-8")
        request = parse_request(text, path=path)
        assert not request.is_ws, path
        in_url = dict(parse_qsl(urlsplit(request.url).query))
        enabled = {p.name: p.value for p in request.query if p.enabled}
        assert in_url == enabled, f"{path}: URL query {in_url} != params:query {enabled}"
        asserts = [b for b in parse_blocks(text, str(path)) if b.tag == "assert"]
        assert asserts and asserts[0].get("res.status").startswith("eq "), path


def test_ids_come_from_the_running_backend_not_from_one_machine() -> None:
    env = load_collection(COLLECTION_DIR).environments["Local"].variables
    assert not env["miner_id"].startswith("127.0.0.1:")  # the demo's miners are never there
    setters = "".join(p.read_text() for p in request_files())
    for name in ("miner_id", "command_id", "alert_id", "issue_id", "key_id", "partner_id"):
        assert f'bru.setVar("{name}"' in setters, f"no request fills {name} from an answer"
    teardown = COLLECTION_DIR / "teardown" / "folder.bru"
    assert "seq: 99" in teardown.read_text()  # after every folder that uses the partner


def test_websocket_requests_live_in_their_own_collection() -> None:
    ws = load_collection(WS_COLLECTION_DIR)
    assert ws.requests and all(r.is_ws for r in ws.requests)
    both = load_collections([COLLECTION_DIR, WS_COLLECTION_DIR])
    assert len(both.requests) == len(load_collection(COLLECTION_DIR).requests) + len(ws.requests)
    assert both.name == "HashInsight API"
    local = both.environments["Local"]
    assert isinstance(local, Environment)
    assert {"baseUrl", "wsUrl", "miner_id"} <= set(local.variables)


def test_generated_requests_carry_query_in_url_and_assertions(tmp_path: Path) -> None:
    text = request_text(
        name="History",
        method="GET",
        path="/api/v1/things/{thing_id}",
        seq=1,
        query=[("metric", "btc_price", True), ("end", "x", False)],
        path_params=[("thing_id", "{{thing_id}}")],
        asserts=[("res.status", "eq 200"), ("res.body.items", "isDefined")],
    )
    request = parse_request(text)
    assert request.url == "{{baseUrl}}/api/v1/things/:thing_id?metric=btc_price"
    assert [(p.name, p.enabled) for p in request.query] == [("metric", True), ("end", False)]
    block = next(b for b in parse_blocks(text) if b.tag == "assert")
    assert block.get("res.status") == "eq 200" and block.get("res.body.items") == "isDefined"

    spec = {
        "paths": {
            "/api/v1/things": {
                "post": {
                    "tags": ["things"],
                    "summary": "Make a thing",
                    "parameters": [
                        {
                            "name": "dry",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "boolean"},
                        }
                    ],
                    "responses": {
                        "201": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ThingOut"}
                                }
                            }
                        },
                        "422": {},
                    },
                }
            }
        },
        "components": {"schemas": {"ThingOut": {"required": ["thing_id"], "properties": {}}}},
    }
    operation = spec["paths"]["/api/v1/things"]["post"]
    assert expected_answer(operation, spec) == [
        ("res.status", "eq 201"),
        ("res.body.thing_id", "isDefined"),
    ]
    (written,) = generate(tmp_path, spec)
    made = written.read_text()
    assert "url: {{baseUrl}}/api/v1/things?dry=false" in made
    assert "assert {\n  res.status: eq 201\n  res.body.thing_id: isDefined\n}" in made


def bruno_cli() -> str | None:
    return os.environ.get("BRU") or shutil.which("bru")


@pytest.mark.skipif(bruno_cli() is None, reason="the Bruno CLI (bru) is not installed")
@pytest.mark.timeout(600)
def test_bru_run_against_the_demo_passes_every_request() -> None:
    cli = bruno_cli()
    assert cli is not None
    done = subprocess.run(
        [str(REPO / "scripts" / "bru_demo_check.sh"), cli],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "✓ PASS" in output and "Failed" not in output, output[-4000:]
