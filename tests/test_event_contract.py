"""Every event a running backend publishes fits its contract model, field for field.

The demo world runs (fleet, markets, network, notary, issuer and its signer); the test acts as an
operator would (acknowledge, silence, a command, a notarization, a key revoked, the issuer asked
to start) and checks each event on the bus against `hashinsight_contract.events.EVENTS`: the type
is known, it comes on its channel, the payload validates, and it carries no field the contract
lacks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from backend.core.bus import Event
from backend.runtime import BackendThread
from hashinsight_contract.events import EVENTS, AlertSilenced, FleetReadings, parse_payload
from hashinsight_contract.fleet import AlertOut

# What a few minutes of the demo and the operator's actions below must produce.
EXPECTED = {
    "health.update",
    "miner.update",
    "fleet.readings",
    "fleet.sweep",
    "alert.raised",
    "alert.acknowledged",
    "alert.silenced",
    "command.update",
    "price.tick",
    "exchanges.update",
    "network.update",
    "notary.update",
    "issuer.status",
    "issuer.signer",
    "key.changed",
}
INTERNAL_CHANNELS = {"auth.throttle"}  # instance-to-instance bookkeeping, never sent to clients


def unknown_fields(model: type[BaseModel], data: dict[str, Any]) -> set[str]:
    return set(data) - set(model.model_fields)


def collect(thread: BackendThread, seen: list[Event]) -> None:
    async def follow() -> None:
        queue = thread.backend.bus.subscribe(maxsize=100_000, name="contract-check")
        while True:
            seen.append(await queue.get())

    assert thread._loop is not None
    asyncio.run_coroutine_threadsafe(follow(), thread._loop)


def act_as_an_operator(client: httpx.Client) -> None:
    alerts: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(alerts) < 2 and time.monotonic() < deadline:
        alerts = client.get("/api/v1/alerts", params={"state": "raised"}).json()["items"]
        time.sleep(0.5)
    assert len(alerts) >= 2, "the demo raised no alerts"
    first, second = alerts[0]["id"], alerts[1]["id"]
    ok = client.post(f"/api/v1/alerts/{first}/acknowledge", json={"reason": "on it"})
    assert ok.status_code == 200, ok.text
    ok = client.post(f"/api/v1/alerts/{second}/silence", json={"minutes": 10, "reason": "known"})
    assert ok.status_code == 200, ok.text
    miner = client.get("/api/v1/miners", params={"limit": 1}).json()["items"][0]["id"]
    sent = client.post(
        f"/api/v1/miners/{miner}/commands", json={"command": "fault_light", "args": {"on": True}}
    )
    assert sent.status_code in (200, 202), sent.text
    notarized = client.post("/api/v1/notarizations", json={})
    assert notarized.status_code == 202, notarized.text
    made = client.post("/api/v1/keys", json={"name": "contract check", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    assert client.delete(f"/api/v1/keys/{made.json()['key']['key_id']}").status_code == 200
    # the demo's issuer starts on its own; a second start is refused (no issuer.started then)
    assert client.post("/api/v1/issuer/start", json={"start": "now"}).status_code in (200, 409)


@pytest.mark.timeout(180)
def test_every_published_event_fits_its_contract(backend_thread: BackendThread) -> None:
    seen: list[Event] = []
    collect(backend_thread, seen)
    backend = backend_thread.backend
    headers = {"Authorization": f"Bearer {backend.operator_token}"}
    with httpx.Client(base_url=backend.url, headers=headers, timeout=30) as client:
        act_as_an_operator(client)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and EXPECTED - {e.type for e in list(seen)}:
            time.sleep(0.5)
    events = [e for e in list(seen) if e.channel not in INTERNAL_CHANNELS]
    missing = EXPECTED - {e.type for e in events}
    assert not missing, f"the run never published {sorted(missing)}"
    problems: list[str] = []
    for event in events:
        spec = EVENTS.get(event.type)
        if spec is None:
            problems.append(f"{event.type}: not in the contract")
            continue
        if event.channel != spec.channel:
            problems.append(f"{event.type}: on {event.channel!r}, contract says {spec.channel!r}")
        try:
            parse_payload(event.type, event.data)
        except ValidationError as exc:
            problems.append(f"{event.type}: {exc.errors()[:3]}")
        extra = unknown_fields(spec.payload, event.data)
        if extra:
            problems.append(f"{event.type}: fields the contract lacks: {sorted(extra)}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_a_payload_that_drifts_from_the_contract_is_caught() -> None:
    """The checks above can fail: a renamed field and a missing one are both reported."""
    good = {
        "id": 1,
        "miner_id": "m",
        "rule": "offline",
        "severity": "critical",
        "state": "raised",
        "message": "x",
        "value": None,
        "threshold": None,
        "raised_at": 1.0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "ack_note": None,
        "cleared_at": None,
    }
    assert isinstance(parse_payload("alert.raised", good), AlertOut)
    drifted = {**good, "raised": good["raised_at"]}
    del drifted["raised_at"]
    with pytest.raises(ValidationError):
        parse_payload("alert.raised", drifted)
    assert unknown_fields(AlertOut, drifted) == {"raised"}
    with pytest.raises(ValidationError):  # a silence without its end
        parse_payload("alert.silenced", good)
    assert parse_payload("fleet.future_event", {"anything": 1}) is None
    readings = parse_payload(
        "fleet.readings",
        {"sweep": 1, "polled_at": 2.0, "interval_s": 10.0, "fields": ["status"], "rows": []},
    )
    assert isinstance(readings, FleetReadings)
    assert AlertSilenced.model_fields["silenced_until"].is_required()
