"""Bruno parsing of real Bruno files, and the Playground driven with the pilot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import RichLog, Select

from backend.runtime import BackendThread
from backend.settings import load_settings
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.bruno import (
    BrunoError,
    build_url,
    load_collection,
    load_collections,
    parse_environment,
    parse_request,
)
from hashinsight_tui.screens.playground import (
    COLLECTION_DIR,
    WS_COLLECTION_DIR,
    PlaygroundScreen,
)
from tests.api.conftest import FAST
from tests.helpers import isolated_env, wait_for

# Files in the shapes Bruno itself writes (its jsonToBru output): bearer auth, disabled params,
# annotations, multi-line values, `ws` requests with several messages, a secret-var environment.
BEARER_HTTP = """meta {
  name: Bearer Auth 200
  type: http
  seq: 1
}

get {
  url: {{host}}/api/auth/bearer/protected?x=1
  body: none
  auth: bearer
}

params:query {
  limit: 10
  ~offset: 20
}

headers {
  @description('''
    sent on every call
  ''')
  x-trace: abc
  ~x-off: nope
}

auth:bearer {
  token: {{bearer_auth_token}}
}

assert {
  res.status: eq 200
}

script:post-response {
  bru.setEnvVar("foo", "bar");
}
"""
POST_JSON = """meta {
  name: Create User
  type: http
  seq: 3
  tags: [
    user-management
    post-request
  ]
}

post {
  url: {{baseUrl}}/api/users/:id
  body: json
  auth: none
}

params:path {
  id: 42
}

body:json {
  {
    "name": "{{userName}}",
    "nested": {"a": [1, 2]}
  }
}

docs {
  # Creates a user
  with a body
}
"""
WS_REQUEST = """meta {
  name: Socket
  type: ws
  seq: 2
}

ws {
  url: ws://localhost:8080/ws
  body: ws
  auth: none
}

headers {
  authorization: Bearer live
}

body:ws {
  name: hello
  type: json
  content: '''
    {
      "type": "auth",
      "api_key": "{{apiKey}}"
    }
  '''
}

body:ws {
  name: raw
  type: text
  selected: true
  content: ping
}
"""
ENV = """vars {
  host: http://localhost:8080
  env.var1: envVar1
  bark: {{process.env.PROC_ENV_VAR}}
}
vars:secret [
  github_client_secret,
  github_client_id
]
"""


def test_parse_http_request_with_auth_params_and_annotations() -> None:
    request = parse_request(BEARER_HTTP, folder="auth")
    assert request.kind == "http" and request.method == "GET" and request.seq == 1
    assert request.auth_mode == "bearer" and request.auth_token == "{{bearer_auth_token}}"
    assert [(p.name, p.value, p.enabled) for p in request.query] == [
        ("limit", "10", True),
        ("offset", "20", False),
    ]
    assert [(p.name, p.enabled) for p in request.headers] == [("x-trace", True), ("x-off", False)]
    url = build_url(request, {"host": "http://h"})
    assert url == "http://h/api/auth/bearer/protected?limit=10"


def test_parse_json_body_path_params_tags_and_docs() -> None:
    request = parse_request(POST_JSON)
    assert request.method == "POST" and request.body_mode == "json"
    assert json.loads(request.body.replace("{{userName}}", "x")) == {
        "name": "x",
        "nested": {"a": [1, 2]},
    }
    assert request.tags == ("user-management", "post-request")
    assert request.docs.startswith("# Creates a user")
    assert build_url(request, {"baseUrl": "http://b"}) == "http://b/api/users/42"


def test_parse_websocket_request_with_messages() -> None:
    request = parse_request(WS_REQUEST)
    assert request.is_ws and request.method == "WS" and request.url == "ws://localhost:8080/ws"
    assert [(m.name, m.type) for m in request.ws_messages] == [("hello", "json"), ("raw", "text")]
    assert json.loads(request.ws_messages[0].content)["api_key"] == "{{apiKey}}"
    assert request.ws_messages[1].content == "ping"
    assert request.headers[0].value == "Bearer live"


def test_parse_environment_and_errors() -> None:
    env = parse_environment(ENV, "Local")
    assert (
        env.variables["host"] == "http://localhost:8080" and env.variables["env.var1"] == "envVar1"
    )
    assert env.secrets == ("github_client_secret", "github_client_id")
    with pytest.raises(BrunoError, match="not closed"):
        parse_request("meta {\n  name: x\n")
    with pytest.raises(BrunoError, match="no request block"):
        parse_request("meta {\n  name: x\n}\n")


def test_the_repository_collection_covers_every_route_and_has_no_keys() -> None:
    collection = load_collection(COLLECTION_DIR)
    assert collection.name == "HashInsight API"
    assert {"Local", "Production"} <= set(collection.environments)
    assert "apiKey" in collection.environments["Local"].secrets
    assert not any("hsk_" in v for v in collection.environments["Local"].variables.values())
    assert not [r for r in collection.requests if r.is_ws], "the Bruno CLI cannot run ws requests"
    collection = load_collections([COLLECTION_DIR, WS_COLLECTION_DIR])
    ws = [r for r in collection.requests if r.is_ws]
    assert len(ws) >= 4 and all(r.ws_messages[0].name == "auth" for r in ws)
    assert "apiKey" in collection.environments["Local"].secrets
    from backend.api.app import create_app
    from backend.runtime import Backend
    from tests.conftest import isolated_env as env

    spec = create_app(Backend(load_settings(env(Path("/nonexistent-hashinsight"))))).openapi()
    covered = {
        (r.method, r.url.replace("{{baseUrl}}", "").split("?")[0]) for r in collection.requests
    }
    missing = []
    for path, methods in spec["paths"].items():
        bru_path = "/".join(f":{p[1:-1]}" if p.startswith("{") else p for p in path.split("/"))
        for method in methods:
            if (method.upper(), bru_path) not in covered:
                missing.append(f"{method.upper()} {path}")
    assert not missing, (
        "endpoints without a .bru request; run: python -m hashinsight_tui.bruno generate "
        f"collections/hashinsight <openapi.json> — missing: {missing}"
    )
    for path in [*COLLECTION_DIR.rglob("*.bru"), *WS_COLLECTION_DIR.rglob("*.bru")]:
        assert "hsk_" not in path.read_text() and "whsec_" not in path.read_text(), path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[BackendThread]:
    thread = BackendThread(load_settings(isolated_env(tmp_path), overrides=FAST), mode="serve")
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def log_text(app: HashInsightApp) -> str:
    log = app.screen.query_one("#pg-response", RichLog)
    return "\n".join(line.text for line in log.lines)


def find(screen: PlaygroundScreen, method: str, url_end: str):  # type: ignore[no-untyped-def]
    assert screen.collection is not None
    return next(
        r
        for r in screen.collection.requests
        if r.method == method and r.url.split("?")[0].endswith(url_end)
    )


async def test_playground_sends_http_and_websocket_requests(live: BackendThread) -> None:
    key = live.backend.initial_operator_key
    assert key is not None
    app = HashInsightApp(
        ConsoleOptions(url=live.backend.url, api_key=key, refresh_s=1.0, start_screen="playground")
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: isinstance(app.screen, PlaygroundScreen), pilot)
        screen = app.screen
        assert isinstance(screen, PlaygroundScreen)
        await wait_for(lambda: screen.collection is not None, pilot)
        tree = screen.query_one("#pg-tree")
        assert "keys" in [str(n.label) for n in tree.root.children]  # type: ignore[attr-defined]
        screen.select_request(find(screen, "GET", "/api/v1/me"))
        await pilot.press("ctrl+r")
        await wait_for(lambda: "200 OK" in log_text(app), pilot)
        text = log_text(app)
        assert '"owner_type": "operator"' in text and "ms" in text
        assert "x-ratelimit-limit" in text.lower()
        assert key.split("_")[2] not in text
        label = str(screen.query_one("#pg-key", Select)._options[0][0])  # type: ignore[attr-defined]
        assert "hsk_" in label and key.split("_")[2] not in label
        screen.select_request(find(screen, "GET", "/api/v1/analytics/historical"))
        await pilot.press("ctrl+r")
        await wait_for(lambda: "404" in log_text(app) or "200" in log_text(app), pilot)
        ws = next(r for r in screen.collection.requests if r.is_ws and r.name == "Health stream")  # type: ignore[union-attr]
        screen.select_request(ws)
        await pilot.press("ctrl+r")
        await wait_for(lambda: '"type":"subscribed"' in log_text(app), pilot)
        await wait_for(lambda: '"type":"pong"' in log_text(app), pilot)
        assert key.split("_")[2] not in log_text(app)
        await pilot.press("ctrl+d")
        await wait_for(lambda: not screen.ws_connected, pilot)
