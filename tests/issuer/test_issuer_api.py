"""The issuer's operator API on a real backend (loopback), with the simulators and a real
signing service dialing the backend's /api/v1/issuer/signer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from backend.core.audit import AuditEntry
from backend.runtime import Backend
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from tests.helpers import eventually
from tests.issuer.issuer_harness import SignerRunner, issuer_settings, start_signer


async def _backend(tmp_path: Path, bitmart: BitmartSimulator, node: NdauNodeSimulator, **kw: Any):
    settings = issuer_settings(tmp_path, bitmart, node, **kw)
    backend = Backend(settings, mode="serve")
    await backend.start()
    return backend


@pytest.fixture
async def semi(
    tmp_path: Path, bitmart_sim: BitmartSimulator, ndau_sim: NdauNodeSimulator
) -> AsyncIterator[tuple[Backend, SignerRunner]]:
    backend = await _backend(
        tmp_path, bitmart_sim, ndau_sim, issuer_mode="semi_auto", issuer_start_at=None
    )
    hub = backend.url.replace("http", "ws", 1) + "/api/v1/issuer/signer"
    signer = start_signer(ndau_sim, tmp_path, [hub])
    try:
        yield backend, signer
    finally:
        await signer.stop()
        await backend.stop()


def api(backend: Backend, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=backend.url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
    )


async def until_state(http: httpx.AsyncClient, issue_id: int, state: str) -> dict[str, Any]:
    async def check() -> Any:
        response = await http.get(f"/api/v1/issuer/issues/{issue_id}")
        ok = response.status_code == 200 and response.json()["state"] == state
        return response.json() if ok else None

    return await eventually(check, 30)


async def test_approval_flow_scopes_audit_reconciliation_and_stream(
    semi: tuple[Backend, SignerRunner], bitmart_sim: BitmartSimulator, ndau_sim: NdauNodeSimulator
) -> None:
    backend, _signer = semi
    operator = backend.initial_operator_key
    assert operator is not None
    _info, reader = await backend.auth.create_key(
        name="viewer", scopes=["read", "stream"], tier="operator"
    )
    ws_url = backend.url.replace("http", "ws", 1) + "/ws"
    async with (
        api(backend, operator) as http,
        api(backend, reader) as ro,
        websockets.connect(ws_url) as ws,
    ):
        await ws.send(json.dumps({"type": "auth", "api_key": reader}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "auth_ok", answer
        await ws.send(json.dumps({"type": "subscribe", "channels": ["issues"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"

        # First start: nothing is read (let alone issued) before someone picks a starting point.
        bitmart_sim.add_trade(side="sell", size="100", at_ms=int(time.time() * 1000) - 60_000)
        status = (await ro.get("/api/v1/issuer/status")).json()
        assert status["mode"] == "semi_auto" and status["configured"]
        assert status["needs_start"] and status["cursor"] is None
        await asyncio.sleep(0.3)
        assert bitmart_sim.requests == 0
        assert (await ro.post("/api/v1/issuer/start", json={"start": "now"})).status_code == 403
        bad = await http.post("/api/v1/issuer/start", json={"start": "yesterday"})
        assert bad.status_code == 400
        started = await http.post("/api/v1/issuer/start", json={"start": "now"})
        assert started.status_code == 200 and not started.json()["needs_start"]
        assert (await http.post("/api/v1/issuer/start", json={"start": "now"})).status_code == 409
        await eventually(lambda: bitmart_sim.requests > 0, 20)
        now = int(time.time() * 1000)
        bitmart_sim.add_trade(side="sell", size="12.5", at_ms=now - 10)
        bitmart_sim.add_trade(side="buy", size="1", at_ms=now - 10)
        issue = await until_state(ro, 1, "awaiting_approval")
        assert issue["qty_napu"] == "1250000000" and issue["qty_ndau"] == "12.50000000"
        assert [t["size"] for t in issue["trades"]] == ["12.5"]
        params = {"state": "awaiting_approval"}
        listed = (await ro.get("/api/v1/issuer/issues", params=params)).json()
        assert [i["id"] for i in listed["issues"]] == [1]
        assert (await ro.get("/api/v1/issuer/issues", params={"state": "bogus"})).status_code == 400
        assert (await ro.get("/api/v1/issuer/issues/999")).status_code == 404

        # Approving needs the issuer:approve scope.
        refused = await ro.post("/api/v1/issuer/issues/1/approve", json={"reason": "x"})
        assert refused.status_code == 403 and "issuer:approve" in refused.json()["error"]["message"]
        approved = await http.post(
            "/api/v1/issuer/issues/1/approve", json={"reason": "desk confirmed the sale"}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["decided_by"].startswith("key:")
        again = await http.post("/api/v1/issuer/issues/1/approve", json={})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        done = await until_state(ro, 1, "confirmed")
        assert done["block_height"] and done["signed_tx"]["sequence"] == 4171
        assert len(ndau_sim.issue_txs()) == 1

        bitmart_sim.add_trade(side="sell", size="3", at_ms=int(time.time() * 1000) - 10)
        await until_state(ro, 2, "awaiting_approval")
        no_reason = await http.post("/api/v1/issuer/issues/2/reject", json={})
        assert no_reason.status_code == 422
        rejected = await http.post("/api/v1/issuer/issues/2/reject", json={"reason": "test sale"})
        assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"

        live = {"live": "true"}  # Bitmart asked again: the issuer's rate budget, not a reader's
        refused = await ro.get("/api/v1/issuer/reconciliation", params=live)
        assert refused.status_code == 403 and "issuer:approve" in refused.text
        month = {**live, "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
        assert (await http.get("/api/v1/issuer/reconciliation", params=month)).status_code == 422
        assert (await ro.get("/api/v1/issuer/reconciliation")).status_code == 200
        recon = (await http.get("/api/v1/issuer/reconciliation", params=live)).json()
        assert recon["recorded_sales"]["ndau"] == "15.50000000"  # the old sale stays history
        assert recon["issued"]["ndau"] == "12.50000000"
        assert recon["rejected"]["ndau"] == "3.00000000"
        assert recon["unrecorded"]["napu"] == "0"

        wanted = {
            ("approval.pending", "awaiting_approval"),
            ("issue.update", "confirmed"),
            ("issue.update", "rejected"),
        }
        kinds: set[tuple[str, Any]] = set()
        deadline = time.monotonic() + 5
        while not wanted <= kinds and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                if frame["type"] == "event":
                    kinds.add((frame["event"], frame["data"].get("state")))
        assert wanted <= kinds

        status_text = (await ro.get("/api/v1/issuer/status")).text
        openapi = (await ro.get("/api/v1/openapi.json")).json()
    async with backend.db.session() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action.in_(["issuer.approved", "issuer.rejected", "issuer.start"])
                )
            )
        )
    decisions = {r.action: r.to_dict() for r in rows if r.actor.startswith("key:")}
    assert decisions["issuer.approved"]["detail"]["decision_reason"] == "desk confirmed the sale"
    assert decisions["issuer.rejected"]["detail"]["decision_reason"] == "test sale"
    assert decisions["issuer.approved"]["source"] == "127.0.0.1"
    assert decisions["issuer.start"]["detail"]["start"]
    # No secret ever leaves the backend.
    key = json.loads(bitmart_sim.key_file.read_text())
    for secret in (key["secret"], key["memo"], *(k.to_text() for k in ndau_sim.validation_private)):
        assert secret not in status_text
    assert "/api/v1/issuer/status" in openapi["paths"]
    assert "IssuerStatusOut" in openapi["components"]["schemas"]
