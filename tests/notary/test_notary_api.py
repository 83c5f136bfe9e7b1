"""The notary over real HTTP and WebSocket, against a backend on a loopback port."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from backend.notary.canonical import canonical_json
from backend.notary.keccak import keccak_hex
from backend.runtime import Backend
from hashinsight_cli.main import main as cli_main


def client(backend: Backend, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=backend.url, headers=headers, trust_env=False, timeout=30)


async def completed(http: httpx.AsyncClient, notarization_id: int) -> dict[str, Any]:
    for _ in range(400):
        view = (await http.get(f"/api/v1/notarizations/{notarization_id}")).json()
        if view["status"] != "running":
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"notarization {notarization_id} still running: {view}")


async def test_request_read_verify_and_fetch_by_cid(backend: Backend, operator_key: str) -> None:
    async with client(backend, operator_key) as http:
        response = await http.post("/api/v1/notarizations", json={"period_hours": 2})
        assert response.status_code == 202, response.text
        created = response.json()
        assert created["status"] == "running" and created["trigger"] == "manual"
        assert [s["name"] for s in created["steps"]] == [
            "canonical",
            "hash",
            "sign",
            "pin",
            "anchor",
            "confirm",
        ]
        view = await completed(http, created["id"])
        assert view["status"] == "completed", view
        assert all(step["state"] == "done" for step in view["steps"])
        for field in ("hash", "signature", "signer", "cid", "tx_hash", "block_number"):
            assert view[field], field
        listed = (await http.get("/api/v1/notarizations", params={"status": "completed"})).json()
        assert created["id"] in [item["id"] for item in listed["items"]]
        document = await http.get(f"/api/v1/notarizations/{created['id']}/document")
        assert keccak_hex(document.content) == view["hash"]
        verified = (await http.post(f"/api/v1/notarizations/{created['id']}/verify")).json()
        assert verified["ok"] is True and verified["failed_step"] is None
        assert [c["step"] for c in verified["checks"]] == [
            "pin",
            "hash",
            "sign",
            "anchor",
            "confirm",
        ]
        info = (await http.get("/api/v1/notary")).json()
        assert info["signer"] == view["signer"] and info["chain"] == "embedded"
    async with client(backend) as anonymous:  # content-addressed bytes need no key
        pinned = await anonymous.get(f"/ipfs/{view['cid']}")
        assert pinned.status_code == 200 and pinned.content == document.content
        assert canonical_json(json.loads(pinned.content)) == pinned.content
        assert pinned.headers["etag"] == f'"{view["cid"]}"'
        bad = await anonymous.get("/ipfs/not-a-cid")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        missing = await anonymous.get("/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        assert missing.status_code == 404
        assert (await anonymous.get("/api/v1/notarizations")).status_code == 401


async def test_scopes_and_errors(backend: Backend, operator_key: str) -> None:
    _info, reader = await backend.auth.create_key(name="reader", scopes="read")
    async with client(backend, reader) as http:
        refused = await http.post("/api/v1/notarizations", json={})
        assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
        assert (await http.get("/api/v1/notarizations/999")).status_code == 404
        assert (await http.post("/api/v1/notarizations/999/verify")).status_code == 404
        assert (await http.get("/api/v1/notarizations", params={"status": "x"})).status_code == 422
    async with client(backend, operator_key) as http:
        bad = await http.post("/api/v1/notarizations", json={"period_hours": -1})
        assert bad.status_code == 422
        created = (await http.post("/api/v1/notarizations", json={})).json()
        await completed(http, created["id"])
        conflict = await http.post(f"/api/v1/notarizations/{created['id']}/retry")
        assert conflict.status_code == 409


async def test_progress_streams_on_the_notarizations_channel(
    backend: Backend, operator_key: str
) -> None:
    url = backend.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        hello = json.loads(await ws.recv())
        assert "notarizations" in hello["channels"] and "wallet" in hello["channels"]
        await ws.send(json.dumps({"type": "subscribe", "channels": ["notarizations"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        async with client(backend, operator_key) as http:
            created = (await http.post("/api/v1/notarizations", json={})).json()
        seen: list[str | None] = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if message.get("type") != "event" or message["data"].get("id") != created["id"]:
                continue
            assert message["event"] == "notary.update"
            seen.append(message["data"]["step"])
            if message["data"]["status"] == "completed":
                break
        assert seen[-1] is None and "anchor" in seen and "confirm" in seen


async def test_cli_verify_prints_each_check(
    backend: Backend,
    operator_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with client(backend, operator_key) as http:
        created = (await http.post("/api/v1/notarizations", json={})).json()
        await completed(http, created["id"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HASHINSIGHT_CONSOLE__API_KEY", operator_key)
    argv = ["notary", "verify", str(created["id"]), "--url", backend.url]
    code = await asyncio.to_thread(cli_main, argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"notarization {created['id']}: VERIFIED" in out
    for title in ("Content by CID", "Hash recomputed", "Signer recovered", "Anchor on chain"):
        assert f"[PASS] {title}" in out
    code = await asyncio.to_thread(cli_main, ["notary", "verify", "4242", "--url", backend.url])
    assert code == 2 and "no notarization 4242" in capsys.readouterr().err
