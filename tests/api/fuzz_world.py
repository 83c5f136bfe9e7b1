"""A live backend over the simulators, seeded with real objects, for the schema-driven fuzz tests.

Every integration points at its loopback simulator (a small demo fleet, markets, Pinata, IP-API,
Bitmart, the ndau node with the in-process signer), and the backend is seeded through its own API
with one of everything a path parameter can name: miners, alerts, pending commands, an issue, a
notarization, a partner with its keys, a webhook with a delivery, an export, a wallet session.
The fuzzer then reaches those objects instead of only ever hearing 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from backend.runtime import BackendThread
from backend.settings import load_settings
from backend.sim.world import SimWorld
from tests.api.receiver import Receiver
from tests.helpers import isolated_env

T = TypeVar("T")
MINERS = 24  # enough to include the demo fleet's overheating and failing-board miners


class LoopThread:
    """An event loop in its own thread for the simulators (never the backend's loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim-world", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Seeded:
    """What the seeding created: real identifiers for each kind of path parameter."""

    url: str
    key: str
    key_id: str
    ids: dict[str, list[Any]] = field(default_factory=dict)
    wallet_session: str | None = None
    spare_wallet_session: str | None = None  # the one a fuzzed logout ends


def _wait(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"fuzz world: {what} did not happen in {timeout:.0f} s")
        time.sleep(0.3)


def _sign_in(http: httpx.Client) -> tuple[str, str]:
    """A wallet session for a fresh Ethereum account (Sign-In with Ethereum, as a browser)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    account = Account.create()
    nonce = http.post("/api/wallet/nonce", json={"wallet_address": account.address})
    nonce.raise_for_status()
    body = nonce.json()
    signed = Account.sign_message(encode_defunct(text=body["message"]), account.key)
    login = http.post(
        "/api/wallet/login",
        json={
            "wallet_address": account.address,
            "signature": "0x" + signed.signature.hex().removeprefix("0x"),
            "nonce": body["nonce"],
            "message": body["message"],
        },
    )
    login.raise_for_status()
    return account.address, login.json()["session_token"]


def seed(thread: BackendThread, receiver_url: str) -> Seeded:
    """Create one of everything through the API and wait until the background work shows."""
    backend = thread.backend
    url, key = backend.url, backend.initial_operator_key
    assert key is not None
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=auth, trust_env=False, timeout=30) as http:

        def get(path: str, **params: Any) -> Any:
            response = http.get(path, params=params)
            return response.json() if response.status_code == 200 else None

        me = get("/api/v1/me")
        seeded = Seeded(url=url, key=key, key_id=me["key_id"])
        ids = seeded.ids
        miners = _wait(
            "a polled fleet",
            lambda: [m["id"] for m in get("/api/v1/miners")["items"] if m["status"] == "online"],
        )
        ids["miner_id"] = miners[:4]
        alerts = _wait("a fleet alert", lambda: get("/api/v1/alerts")["items"])
        ids["alert_id"] = [a["id"] for a in alerts[:4]]

        address, session = _sign_in(http)
        seeded.wallet_session = session
        seeded.spare_wallet_session = _sign_in(http)[1]
        # A key owned by the signed-in wallet, as a partner whose id is its address would hold.
        owned, _full = thread.call(
            backend.auth.create_key(name="wallet owner", owner_type="partner", owner_id=address)
        )
        partner = http.post(
            "/api/v1/partners/register",
            json={"name": "Fuzz Partner", "tier": "enterprise", "integration_type": "explorer"},
        ).json()
        partner_id = partner["partner_id"]
        ids["partner_id"] = [partner_id]
        extra = http.post(f"/api/v1/partners/{partner_id}/keys", json={"name": "second"}).json()
        night = http.post(
            "/api/v1/keys",
            json={"name": "night shift", "scopes": ["read", "fleet:control"], "mode": "semi_auto"},
        ).json()
        ids["key_id"] = [
            owned.key_id,
            partner["key_id"],
            extra["key"]["key_id"],
            night["key"]["key_id"],
        ]
        asks = {"Authorization": f"Bearer {night['api_key']}"}
        commands = []
        for miner_id in miners[:3]:
            answer = http.post(
                f"/api/v1/miners/{miner_id}/commands", json={"command": "restart"}, headers=asks
            )
            commands.append(answer.json()["command_id"])
        ids["command_id"] = commands

        hook = http.post(
            "/api/v1/webhooks",
            json={
                "url": receiver_url,
                "event_types": ["miner.alert", "issue.pending"],
                "partner_id": partner_id,
            },
        ).json()
        ids["webhook_id"] = [hook["webhook_id"]]
        http.post(f"/api/v1/webhooks/{hook['webhook_id']}/test").raise_for_status()

        datasets = [d["name"] for d in get("/api/v1/exports/datasets")["items"] if d["available"]]
        export = http.post("/api/v1/exports", json={"dataset": datasets[0]}).json()
        ids["export_id"] = [export["export_id"]]
        ids["dataset"] = datasets

        notarization = http.post("/api/v1/notarizations", json={"period_hours": 1}).json()
        ids["notarization_id"] = [notarization["id"]]
        done = _wait(
            "a completed notarization",
            lambda: (get(f"/api/v1/notarizations/{notarization['id']}") or {}).get("cid"),
            timeout=120,
        )
        ids["cid"] = [done]
        issues = _wait("an issue", lambda: get("/api/v1/issuer/issues")["issues"], timeout=120)
        ids["issue_id"] = [i["id"] for i in issues[:4]]
        _wait(
            "a completed export",
            lambda: (
                (get(f"/api/v1/exports/{export['export_id']}") or {}).get("status") == "completed"
            ),
        )
        ids["wallet_address"] = [address]
        ids["miner_ids"] = [miners[:2]]
        ids["url"] = [receiver_url]
        ids["event_types"] = [["miner.alert"]]
        ids["metric"] = ["fleet_hashrate", "online_miners", "btc_price"]
        ids["start"] = ["2024-01-01T00:00:00Z", None]
        ids["end"] = ["2030-01-01T00:00:00+02:00", None]
    return seeded


@contextlib.contextmanager
def fuzz_world(tmp_path: Path, **overrides: Any) -> Iterator[Seeded]:
    """The simulators, a backend on them (mode serve) and the seeded objects; all stopped after."""
    sims = LoopThread()
    world = SimWorld(miners=MINERS)
    receiver = Receiver()
    thread: BackendThread | None = None
    try:
        sims.call(world.start())
        sims.call(receiver.__aenter__())
        settings = load_settings(
            isolated_env(tmp_path),
            overrides={
                **world.settings_overrides(),
                "api_port": 0,
                "health_check_interval_s": 5.0,
                "fleet_poll_interval_s": 2.0,
                "issuer_mode": "semi_auto",
                "pinata_jwt": None,  # pin to the local store, which /ipfs/{cid} serves
                "webhooks_allow_private": True,
                "webhooks_allow_http": True,
                "webhooks_retry_schedule_s": [0.5, 1.0],
                "webhooks_timeout_s": 2.0,
                "auth_fail_block_after": 1_000_000,
                "auth_fail_slow_after": 100_000,
                "ratelimit_operator_per_min": 10_000_000,
                "ratelimit_operator_per_hour": 100_000_000,
                **overrides,
            },
        )
        thread = BackendThread(settings, mode="serve")
        thread.start(timeout=120)
        yield seed(thread, receiver.url)
    finally:
        if thread is not None:
            thread.stop(timeout=30)
        with contextlib.suppress(Exception):
            sims.call(receiver.__aexit__(None, None, None))
        with contextlib.suppress(Exception):
            sims.call(world.stop())
        sims.close()
