"""The OpenAPI spec is fit for client generators: one plain, unique name per model, every
reference resolvable, and bodies whose required fields are marked required.

Generators (openapi-python-client, openapi-generator, orval) name classes after a component's
title; two pydantic models sharing a class name made FastAPI emit module-path keys such as
`backend__api__routes__market_schemas__AttemptOut`, and the generator dropped one of them and
every model that used it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from backend.api.app import create_app
from backend.runtime import Backend, BackendThread
from backend.settings import load_settings
from tests.helpers import isolated_env

NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("spec")
    return create_app(Backend(load_settings(isolated_env(home)))).openapi()


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_component_names_are_plain_and_unique(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert len(schemas) > 50
    odd = [name for name in schemas if "__" in name or not set(name) <= NAME_CHARS]
    assert not odd, f"component names with module paths or punctuation: {odd}"
    titles: dict[str, list[str]] = {}
    for name, schema in schemas.items():
        titles.setdefault(schema.get("title", name), []).append(name)
    clashes = {title: names for title, names in titles.items() if len(names) > 1}
    assert not clashes, f"models sharing a title (a generator keeps one of them): {clashes}"
    renamed = {name: s["title"] for name, s in schemas.items() if s.get("title", name) != name}
    assert not renamed, f"component keys that differ from their model's title: {renamed}"


def test_operation_ids_are_the_handlers_plain_names(spec: dict[str, Any]) -> None:
    """A generated client names its functions after these: `current_price`, not a path soup."""
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    noisy = [i for i in ids if "api_v1" in i or not i.replace("_", "").isalpha() or i != i.lower()]
    assert not noisy, noisy
    assert spec["paths"]["/api/v1/prices/current"]["get"]["operationId"] == "current_price"


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    every = set(refs(spec["paths"])) | set(refs(schemas))
    dangling = sorted(r for r in every if r.rsplit("/", 1)[-1] not in schemas)
    assert not dangling
    # the webhook delivery log keeps its own attempt model next to the market's provider attempts
    delivery = schemas["DeliveryOut"]["properties"]["attempt_log"]["items"]["$ref"]
    assert delivery == "#/components/schemas/DeliveryAttemptOut"
    price = schemas["PriceCurrent"]["properties"]["attempts"]["items"]["$ref"]
    assert price == "#/components/schemas/AttemptOut"


def test_wallet_bodies_mark_what_the_server_needs_as_required(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    nonce = schemas["WalletNonceRequest"]
    assert nonce["required"] == ["wallet_address"]
    assert nonce["properties"]["wallet_address"]["type"] == "string"
    assert "default" not in nonce["properties"]["wallet_address"]
    login = schemas["WalletLoginRequest"]
    assert set(login["required"]) == {"wallet_address", "signature", "nonce"}
    assert all(login["properties"][n]["type"] == "string" for n in login["required"])
    assert "message" not in login["required"]


def generator() -> str | None:
    """openapi-python-client, from $OPENAPI_PYTHON_CLIENT or the PATH (kept out of our own
    environment: install it in a venv of its own)."""
    return os.environ.get("OPENAPI_PYTHON_CLIENT") or shutil.which("openapi-python-client")


# Run with the generated package in the generator's own interpreter (it has httpx and attrs):
# a partner's first calls, typed by the generated models, against a running demo backend.
SMOKE = """
import sys
from hashinsight_api_client import AuthenticatedClient, Client
from hashinsight_api_client.api.health import healthz
from hashinsight_api_client.api.keys import me
from hashinsight_api_client.api.market import current_price
from hashinsight_api_client.api.fleet import fleet_summary, list_miners
from hashinsight_api_client.models import FleetSummary, KeyOut, MinerList, PriceCurrent

url, key = sys.argv[1], sys.argv[2]
assert healthz.sync_detailed(client=Client(base_url=url)).status_code == 200
client = AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)
mine = me.sync(client=client)
assert isinstance(mine, KeyOut) and "admin" in mine.scopes, mine
price = current_price.sync(client=client)
assert isinstance(price, PriceCurrent) and price.price_usd > 0, price
summary = fleet_summary.sync(client=client)
assert isinstance(summary, FleetSummary), summary
page = list_miners.sync(client=client, limit=5)
assert isinstance(page, MinerList) and len(page.items) == 5, page
print("smoke ok", price.price_usd, len(page.items))
"""


@pytest.mark.skipif(generator() is None, reason="openapi-python-client is not installed")
def test_openapi_python_client_generates_every_model_without_warnings(
    spec: dict[str, Any], tmp_path: Path, backend_thread: BackendThread
) -> None:
    tool = generator()
    assert tool is not None
    (tmp_path / "openapi.json").write_bytes(orjson.dumps(spec))
    package = tmp_path / "out" / "hashinsight_api_client"
    done = subprocess.run(
        [
            tool,
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            str(package),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output and "Unable to" not in output, output
    models = {p.stem for p in (package / "models").glob("*.py")}
    assert {"delivery_out", "delivery_list", "delivery_attempt_out", "attempt_out"} <= models
    # the generated client imports, with the interpreter the generator runs in (it has httpx
    # and attrs), and the wallet nonce body takes its address as a required argument
    python = Path(tool).with_name("python")
    check = (
        "import importlib, inspect, pkgutil, hashinsight_api_client as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "from hashinsight_api_client.models import WalletNonceRequest\n"
        "print(inspect.signature(WalletNonceRequest))\n"
    )
    imported = subprocess.run(
        [str(python) if python.exists() else sys.executable, "-c", check],
        cwd=package.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert "wallet_address: 'str'" in imported.stdout, imported.stdout
    interpreter = str(python) if python.exists() else sys.executable
    key = backend_thread.backend.operator_token
    assert key is not None
    smoke = subprocess.run(
        [interpreter, "-c", SMOKE, backend_thread.backend.url, key],
        cwd=package.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke ok" in smoke.stdout
