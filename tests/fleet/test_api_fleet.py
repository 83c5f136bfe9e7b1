"""The fleet API over real HTTP and WebSocket, against a backend polling the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from backend.runtime import Backend
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_tui.client import HashInsightClient
from hashinsight_tui.sdk.commands import COMMAND_TIMEOUT_S, RESEND_TIMEOUT_S

MINER_KEYS = {
    "id",
    "host",
    "port",
    "site",
    "rack",
    "position",
    "status",
    "model",
    "firmware",
    "hashrate_ths",
    "hashrate_avg_ths",
    "hashrate_expected_ths",
    "power_w",
    "efficiency_jth",
    "temp_inlet_c",
    "temp_outlet_c",
    "temp_board_max_c",
    "temp_chip_max_c",
    "fans_rpm",
    "boards",
    "pools",
    "accepted",
    "rejected",
    "hardware_errors",
    "uptime_s",
    "error",
    "last_seen",
    "polled_at",
    "revenue_usd_day",
    "cost_usd_day",
    "profit_usd_day",
    "open_alerts",
}
SUMMARY_KEYS = {
    "total",
    "online",
    "offline",
    "error",
    "sleeping",
    "hashrate_ths",
    "hashrate_expected_ths",
    "power_kw",
    "power_estimated_kw",
    "efficiency_jth",
    "revenue_usd_day",
    "cost_usd_day",
    "cost_estimated_usd_day",
    "profit_usd_day",
    "coverage",
    "open_alerts",
    "sweep",
    "sites",
    "hashprice_usd_per_th_day",
    "hashprice_as_of",
    "hashprice_stale",
    "power_price_usd_kwh",
    "stale",  # sharded deployments: miners no running collector covers
    "shards",
}


@pytest.fixture
async def fleet_sim() -> AsyncIterator[FleetSimulator]:
    families = ["antminer", "whatsminer", "braiins", "cgminer", "antminer", "antminer"]
    async with FleetSimulator(
        6,
        use_ports=True,
        families=families,
        read_only=[5],
        restart_downtime_s=0.6,
        seed=11,
        web_port=0,
        braiins_grpc_port=0,
    ) as sim:
        yield sim


@pytest.fixture
def settings(settings: Settings, fleet_sim: FleetSimulator) -> Settings:
    entries = [
        {
            "address": f"{m.host}:{m.port}",
            "site": "North" if m.index < 3 else "South",
            "rack": "R1",
            "position": str(m.index),
            **({"web_port": m.web_port} if m.web_port is not None else {}),
            **({"grpc_port": m.grpc_port} if m.grpc_port is not None else {}),
        }
        for m in fleet_sim.miners
    ]
    return settings.model_copy(
        update={
            "miners": entries,
            "fleet_poll_interval_s": 0.3,
            "fleet_connect_timeout_s": 0.5,
            "fleet_read_timeout_s": 0.5,
            "fleet_alert_raise_sweeps": 1,
            "market_enabled": False,
            "notary_enabled": False,
            "issuer_enabled": False,
        }
    )


def mid(sim: FleetSimulator, index: int) -> str:
    return f"127.0.0.1:{sim.miners[index].port}"


async def call(backend: Backend, method: str, path: str, key: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=20) as http:
        return await http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)


async def wait_polled(backend: Backend, key: str) -> dict[str, Any]:
    for _ in range(100):
        summary = (await call(backend, "GET", "/api/v1/fleet/summary", key)).json()
        if summary["sweep"]["started_at"] is not None:
            return summary
        await asyncio.sleep(0.05)
    raise AssertionError("no sweep within 5 s")


async def test_summary_list_detail_and_history(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    summary = await wait_polled(backend, operator_key)
    assert set(summary) == SUMMARY_KEYS
    assert summary["total"] == 6 and summary["online"] == 6
    assert {s["site"]: s["total"] for s in summary["sites"]} == {"North": 3, "South": 3}
    listing = (
        await call(
            backend,
            "GET",
            "/api/v1/miners",
            operator_key,
            params={"site": "south", "sort": "hashrate_ths", "order": "desc", "limit": 2},
        )
    ).json()
    assert listing["total"] == 3 and listing["limit"] == 2 and len(listing["items"]) == 2
    rates = [m["hashrate_ths"] for m in listing["items"]]
    assert rates == sorted(rates, reverse=True)
    assert set(listing["items"][0]) - {"stale"} == MINER_KEYS  # stale: sharded deployments
    light = (
        await call(
            backend,
            "GET",
            "/api/v1/miners",
            operator_key,
            params={"fields": "summary", "q": "whatsminer"},
        )
    ).json()
    assert light["total"] == 1 and "boards" not in light["items"][0]
    bad = await call(backend, "GET", "/api/v1/miners", operator_key, params={"sort": "nope"})
    assert bad.status_code == 422
    detail = (
        await call(backend, "GET", f"/api/v1/miners/{mid(fleet_sim, 0)}", operator_key)
    ).json()
    assert detail["model"] == "Antminer S19 Pro" and len(detail["boards"]) == 3
    assert detail["rack"] == "R1" and detail["position"] == "0"
    capabilities = detail["capabilities"]
    assert capabilities["restart"] == {"supported": True, "reason": None}
    assert capabilities["enablepool"]["supported"] is False
    assert "per-pool enable" in capabilities["enablepool"]["reason"]
    whatsminer = (
        await call(backend, "GET", f"/api/v1/miners/{mid(fleet_sim, 1)}", operator_key)
    ).json()
    assert whatsminer["capabilities"]["restart"]["supported"] is True
    assert whatsminer["capabilities"]["enablepool"]["supported"] is False
    braiins = (
        await call(backend, "GET", f"/api/v1/miners/{mid(fleet_sim, 2)}", operator_key)
    ).json()
    assert {c["supported"] for c in braiins["capabilities"].values()} == {True}  # gRPC API
    assert (
        await call(backend, "GET", "/api/v1/miners/10.9.9.9:1", operator_key)
    ).status_code == 404
    history = (
        await call(
            backend,
            "GET",
            f"/api/v1/miners/{mid(fleet_sim, 0)}/history",
            operator_key,
            params={"period": "1h"},
        )
    ).json()
    assert history["resolution_s"] == 0.3 and history["points"][0]["status"] == "online"
    long = await call(
        backend,
        "GET",
        f"/api/v1/miners/{mid(fleet_sim, 0)}/history",
        operator_key,
        params={"period": "7d"},
    )
    assert long.json()["resolution_s"] == 300


async def test_commands_bulk_and_scopes(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    await wait_polled(backend, operator_key)
    target = mid(fleet_sim, 0)
    reply = await call(
        backend,
        "POST",
        f"/api/v1/miners/{target}/commands",
        operator_key,
        json={"command": "restart"},
    )
    assert reply.status_code == 200 and reply.json()["state"] == "succeeded"
    assert reply.json()["verified"] is True and "uptime reset" in reply.json()["verification"]
    seen = []
    for _ in range(60):  # the read-back saw it back up: the console shows it online
        seen.append(
            (await call(backend, "GET", f"/api/v1/miners/{target}", operator_key)).json()["status"]
        )
        if seen[-1] == "online":
            break
        await asyncio.sleep(0.1)
    assert seen[-1] == "online"
    bos = fleet_sim.miners[2].bos
    assert bos is not None
    bos.password = "changed-on-site"  # the Braiins miner refuses the factory login
    bulk = await call(
        backend,
        "POST",
        "/api/v1/miners/commands",
        operator_key,
        json={
            "miner_ids": [mid(fleet_sim, 4), mid(fleet_sim, 2)],
            "command": "switchpool",
            "params": {"pool": 2},
        },
    )
    assert [r["state"] for r in bulk.json()["results"]] == ["succeeded", "refused"]
    assert "wrong credentials" in bulk.json()["results"][1]["result"]  # the Braiins login
    assert bulk.json()["results"][1]["verified"] is None
    bad = await call(
        backend,
        "POST",
        f"/api/v1/miners/{target}/commands",
        operator_key,
        json={"command": "switchpool", "params": {}},
    )
    assert bad.status_code == 422 and "params.pool" in bad.json()["error"]["message"]
    _info, reader = await backend.auth.create_key(name="viewer", scopes=["read"])
    denied = await call(
        backend, "POST", f"/api/v1/miners/{target}/commands", reader, json={"command": "restart"}
    )
    assert denied.status_code == 403
    log = (await call(backend, "GET", "/api/v1/fleet/commands", operator_key)).json()
    assert log["total"] == 3


async def test_a_command_retried_with_its_idempotency_key_runs_once(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    await wait_polled(backend, operator_key)
    target = mid(fleet_sim, 3)
    path = f"/api/v1/miners/{target}/commands"
    body = {"command": "addpool", "params": {"url": "stratum+tcp://retry.example:3333"}}
    body["params"] |= {"user": "acme.w9", "password": "x"}

    async def send(idem: str, json_body: dict[str, Any] = body) -> httpx.Response:
        headers = {"Authorization": f"Bearer {operator_key}", "Idempotency-Key": idem}
        async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=20) as http:
            return await http.post(path, headers=headers, json=json_body)

    first = await send('"3f2a9c1e-retry"')  # the draft's quoted form
    again = await send("3f2a9c1e-retry")
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["command_id"] == first.json()["command_id"]
    assert again.json()["state"] == "succeeded"
    assert len([p for p in fleet_sim.miners[3].pools if p.url == body["params"]["url"]]) == 1
    other = await send("3f2a9c1e-retry", {"command": "restart"})
    assert other.status_code == 422 and "another request" in other.json()["error"]["message"]
    malformed = await send("two words")
    assert malformed.status_code == 400
    assert "Idempotency-Key" in malformed.json()["error"]["message"]
    log = (await call(backend, "GET", "/api/v1/fleet/commands", operator_key)).json()
    assert log["total"] == 1


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """The first command reaches the backend and runs, but its answer never comes back."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.keys: list[str | None] = []
        self.read_timeouts: list[float | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/commands"):
            self.keys.append(request.headers.get("idempotency-key"))
            self.read_timeouts.append(request.extensions.get("timeout", {}).get("read"))
            if len(self.keys) == 1:
                await response.aread()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_sdk_sends_a_command_again_when_its_answer_is_lost(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    """The console learns what became of a restart whose answer was lost, instead of "it may
    have run": the SDK sends it again under the same key, and the backend ran it once."""
    await wait_polled(backend, operator_key)
    lossy = LoseFirstAnswer()
    target = mid(fleet_sim, 3)
    params = {"url": "stratum+tcp://lost.example:3333", "user": "acme.w7", "password": "x"}
    async with HashInsightClient(backend.url, operator_key, transport=lossy) as client:
        result = await client.miner_command(target, "addpool", params)
    assert result.state == "succeeded" and result.verified is True
    assert len(lossy.keys) == 2 and lossy.keys[0] == lossy.keys[1] and lossy.keys[0]
    # the first call waits for the miners' read-back; the resend is answered at once
    assert lossy.read_timeouts == [COMMAND_TIMEOUT_S, RESEND_TIMEOUT_S]
    assert len([p for p in fleet_sim.miners[3].pools if p.url == params["url"]]) == 1
    log = (await call(backend, "GET", "/api/v1/fleet/commands", operator_key)).json()
    assert log["total"] == 1


async def test_semi_auto_approval_through_the_sdk(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    await wait_polled(backend, operator_key)
    _info, semi = await backend.auth.create_key(
        name="night shift", scopes=["read", "fleet:control"], mode="semi_auto"
    )
    target = mid(fleet_sim, 4)
    response = await call(
        backend, "POST", f"/api/v1/miners/{target}/commands", semi, json={"command": "sleep"}
    )
    assert response.status_code == 202 and response.json()["state"] == "pending_approval"
    async with HashInsightClient(backend.url, operator_key) as client:
        queue = await client.fleet_commands("pending_approval")
        assert [c.miner_id for c in queue.items] == [target]
        async with HashInsightClient(backend.url, semi) as own:
            with pytest.raises(Exception, match="403"):
                await own.approve_command(queue.items[0].command_id, "self")
        done = await client.approve_command(queue.items[0].command_id, "ok")
        assert done.state == "succeeded" and fleet_sim.miners[4].sleeping
        assert done.verified is True and "work mode is sleep" in (done.verification or "")
        assert (await client.fleet_summary()).total == 6
        assert (await client.miners(status="online", limit=1)).limit == 1
        assert (await client.miner(target)).id == target
        assert (await client.miner_history(target, "1h")).period == "1h"
        result = await client.bulk_command([target], "wake")
        assert result.results[0].state == "succeeded"


async def test_alerts_acknowledge_and_websocket_channels(
    backend: Backend, operator_key: str, fleet_sim: FleetSimulator
) -> None:
    await wait_polled(backend, operator_key)
    async with websockets.connect(backend.url.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": operator_key}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        await ws.send(json.dumps({"type": "subscribe", "channels": ["miners", "alerts"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        await fleet_sim.miners[3].set_fault(Fault.OFFLINE)
        events: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(10):
            while not {"alert.raised", "fleet.sweep", "miner.update"} <= set(events):
                frame = json.loads(await ws.recv())
                if frame["type"] == "event":
                    if frame["event"] == "miner.update" and (
                        frame["data"]["status"] != "offline"
                        or frame["data"]["id"] != mid(fleet_sim, 3)
                    ):
                        continue
                    # With 0.3 s sweeps, one hardware-error tick between two polls is a real
                    # hw_error_rate alert (200/min) on any miner: only the offline one counts.
                    if frame["event"] == "alert.raised" and (
                        frame["data"]["rule"] != "offline"
                        or frame["data"]["miner_id"] != mid(fleet_sim, 3)
                    ):
                        continue  # on a loaded machine another miner may miss a 0.3 s sweep
                    events.setdefault(frame["event"], frame["data"])
        assert events["miner.update"]["id"] == mid(fleet_sim, 3)
        assert events["alert.raised"]["rule"] == "offline"
        assert set(events["fleet.sweep"]) == SUMMARY_KEYS - {"stale", "shards"}
        alert_id = events["alert.raised"]["id"]
        path = f"/api/v1/alerts/{alert_id}/acknowledge"
        long_note = await call(backend, "POST", path, operator_key, json={"reason": "x" * 501})
        assert long_note.status_code == 422  # bounded, and nothing acknowledged
        note = {"reason": "PSU swap, tech on site"}
        acked = await call(backend, "POST", path, operator_key, json=note)
        assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged_by"]
        assert acked.json()["ack_note"] == "PSU swap, tech on site"
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("event") == "alert.acknowledged":
                    assert frame["data"]["id"] == alert_id
                    assert frame["data"]["ack_note"] == "PSU swap, tech on site"
                    break
    listing = (
        await call(backend, "GET", "/api/v1/alerts", operator_key, params={"state": "acknowledged"})
    ).json()
    assert listing["total"] == 1 and listing["items"][0]["miner_id"] == mid(fleet_sim, 3)
    assert listing["items"][0]["ack_note"] == "PSU swap, tech on site"
    missing = await call(backend, "POST", "/api/v1/alerts/99999/acknowledge", operator_key)
    assert missing.status_code == 404
