"""Routes reach their service by its type: a backend without it answers 503 in the error shape
(after the key is checked), and every answer goes out as its contract model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from backend.api.app import create_app
from backend.fleet.service import FleetService
from backend.notary.service import NotaryService
from backend.runtime import Backend
from backend.settings import Settings
from backend.sim.fleet import FleetSimulator
from tests.api.conftest import bearer


async def test_a_backend_without_the_service_answers_503_after_the_key_check(
    backend: Backend, http: httpx.AsyncClient, operator_key: str
) -> None:
    backend.services_by_name.pop("notary")  # a build without the notary
    anonymous = await http.get("/api/v1/notarizations")
    assert anonymous.status_code == 401
    missing = await http.get("/api/v1/notarizations", headers=bearer(operator_key))
    assert missing.status_code == 503
    assert missing.json() == {
        "error": {
            "code": "unavailable",
            "message": "the notary service is not running in this backend",
        }
    }
    still = await http.get("/api/v1/fleet/summary", headers=bearer(operator_key))
    assert still.status_code == 200, still.text


async def test_the_service_is_found_by_its_type_not_its_name(
    backend: Backend, http: httpx.AsyncClient, operator_key: str
) -> None:
    fleet = backend.services_by_name.pop("fleet")
    assert isinstance(fleet, FleetService)
    backend.services_by_name["fleet-under-another-name"] = fleet
    summary = await http.get("/api/v1/fleet/summary", headers=bearer(operator_key))
    assert summary.status_code == 200, summary.text
    assert summary.json()["total"] == 0
    notary = await http.get("/api/v1/notary", headers=bearer(operator_key))
    assert notary.status_code == 200 and notary.json()["enabled"] is False
    assert isinstance(backend.services_by_name["notary"], NotaryService)


async def test_liveness_is_a_named_model_in_the_spec(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    spec = (await http.get("/api/v1/openapi.json")).json()
    ok = spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/Liveness"}
    assert spec["components"]["schemas"]["Liveness"]["properties"]["status"]["const"] == "ok"


def test_every_json_route_declares_a_contract_model(backend: Backend) -> None:
    """Only 204s, files and the login page answer without a model."""
    spec = create_app(backend).openapi()
    bare = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and "$ref" not in schema:
                    bare.append(f"{method.upper()} {path} {status}")
    assert not bare, f"JSON answers without a named model: {bare}"


@pytest.fixture
async def two_miners() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(2, use_ports=True, families=["antminer", "antminer"]) as sim:
        yield sim


async def test_a_bulk_command_all_queued_for_approval_answers_202(
    two_miners: FleetSimulator, settings: Settings
) -> None:
    entries = [{"address": f"{m.host}:{m.port}", "site": "North"} for m in two_miners.miners]
    backend = Backend(settings.model_copy(update={"miners": entries}), mode="serve")
    await backend.start()
    try:
        _info, semi = await backend.auth.create_key(
            name="night shift", scopes=["read", "fleet:control"], mode="semi_auto"
        )
        ids = [f"{m.host}:{m.port}" for m in two_miners.miners]
        async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=10) as http:
            queued = await http.post(
                "/api/v1/miners/commands",
                json={"command": "restart", "miner_ids": ids},
                headers=bearer(semi),
            )
        assert queued.status_code == 202, queued.text
        results = queued.json()["results"]
        assert [r["miner_id"] for r in results] == ids
        assert {r["state"] for r in results} == {"pending_approval"}
        assert set(results[0]) == {
            "command_id",
            "state",
            "result",
            "miner_id",
            "command",
            "params",
            "requested_by",
            "created_at",
            "updated_at",
            "decided_by",
            "reason",
            "verified",
            "verification",
        }
    finally:
        await backend.stop()
