"""Whatsminer driver against the simulated btminer: API v2 (encrypted, on the RPC port) and API v3
(length-prefixed, own port), effects read back, wrong passwords, the firmware refusing, a hang,
a plain cgminer answering in the wrong dialect, a reboot the miner drops unanswered, two
accounts on one pool URL; the crypto against independent vectors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from backend.core.db import Database
from backend.fleet.credentials import CredentialStore
from backend.fleet.drivers import DriverRegistry, MinerTarget
from backend.fleet.drivers.whatsminer import WhatsminerDriver
from backend.fleet.drivers.whatsminer_crypto import (
    md5_crypt,
    v2_decrypt,
    v2_encrypt,
    v2_key,
    v2_sign,
    v3_token,
)
from backend.sim.fleet import Fault, FleetSimulator
from tests.fleet.fleet_helpers import identified, quick_context

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POOL = {"url": "stratum+tcp://new.example:3333", "user": "w.1", "password": "x"}


@pytest.fixture
async def sim() -> AsyncIterator[FleetSimulator]:
    # m0 Whatsminer (v2 only), m1 plain cgminer
    async with FleetSimulator(
        2, use_ports=True, families=["whatsminer", "cgminer"], restart_downtime_s=3.0
    ) as fleet:
        yield fleet


@pytest.fixture
async def sim3() -> AsyncIterator[FleetSimulator]:
    async with FleetSimulator(
        1, use_ports=True, families=["whatsminer"], restart_downtime_s=3.0, whatsminer_v3_port=0
    ) as fleet:
        yield fleet


async def _store(database: Database, **fields: object) -> CredentialStore:
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    values = {"username": None, "password": None, "port": None, **fields}
    await store.set(scope="miner", target="m0", kind="whatsminer", actor="t", now=NOW, **values)  # type: ignore[arg-type]
    return store


async def _all_actions(driver: WhatsminerDriver, target: MinerTarget) -> dict[str, str]:
    """Every supported action once, each read back; the verification per action."""
    results: dict[str, str] = {}
    steps = [
        ("sleep", {}),
        ("wake", {}),
        ("fault_light", {"on": True}),
        ("work_mode", {"mode": "low_power"}),
        ("switchpool", {"pool": 1}),
        ("removepool", {"pool": 2}),
        ("addpool", POOL),
        ("restart", {}),
    ]
    for action, params in steps:
        outcome = await driver.run(target, action, params)
        assert outcome.state == "succeeded", (action, outcome.result)
        results[action] = await driver.verify(target, action, params, outcome)
    return results


# ---------------------------------------------------------------------- crypto


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize(
    ("password", "salt"),
    [("admin", "BQ5hoXV9"), ("", "abc"), ("x" * 40, "saltsalt"), ("pässwörd", "a.b/C9")],
)
def test_md5_crypt_matches_openssl(password: str, salt: str) -> None:
    expected = subprocess.run(
        ["openssl", "passwd", "-1", "-salt", salt, password],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()
    assert md5_crypt(password, salt) == expected


def test_v2_and_v3_tokens_against_independent_derivations() -> None:
    key = v2_key("admin", "BQ5hoXV9")
    assert key == ["$1$BQ5hoXV9", "RxmaDUO33TS7O26yeMHZ81"][1]  # openssl passwd -1
    assert v2_sign(key, "8411", "kvXFj3Rq") == md5_crypt(key + "8411", "kvXFj3Rq").split("$")[3]
    # AES-256-ECB under sha256(key), NUL-padded: decrypt with the primitive directly
    sealed = v2_encrypt(key, {"cmd": "reboot", "token": "abc"})
    raw = base64.b64decode(sealed)
    aes = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.ECB()).decryptor()
    plain = (aes.update(raw) + aes.finalize()).rstrip(b"\0")
    assert json.loads(plain) == {"cmd": "reboot", "token": "abc"} and len(raw) % 16 == 0
    assert v2_decrypt(key, sealed, max_bytes=1024) == plain
    digest = hashlib.sha256(b"set.system.rebootsuperabcd1234" + b"1700000000").digest()
    assert (
        v3_token("set.system.reboot", "super", "abcd1234", 1_700_000_000)
        == (base64.b64encode(digest).decode()[:8])
    )


async def test_the_simulator_s_encrypted_reply_decrypts_with_our_client(
    sim: FleetSimulator,
) -> None:
    miner = sim.miners[0]
    token_reply, _ = miner.respond(b'{"cmd":"get_token"}')
    msg = json.loads(token_reply)["Msg"]
    key = v2_key("admin", msg["salt"])
    sign = v2_sign(key, msg["time"], msg["newsalt"])
    body = json.dumps({"enc": 1, "data": v2_encrypt(key, {"cmd": "power_off", "token": sign})})
    reply, _ = miner.respond(body.encode())
    decoded = json.loads(v2_decrypt(key, json.loads(reply)["enc"], max_bytes=4096))
    assert decoded["STATUS"] == "S" and decoded["Code"] == 131 and miner.sleeping


# ---------------------------------------------------------------------- API v2


async def test_v2_every_action_is_sent_encrypted_and_read_back(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.wm is not None
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert isinstance(driver, WhatsminerDriver)
    assert driver.capabilities(target)["enablepool"].supported is False
    results = await _all_actions(driver, target)
    assert results["sleep"] == "verified: the miner stopped hashing (btminer off)"
    assert results["wake"] == "verified: btminer is running again"
    assert results["fault_light"] == "verified: the fault light is blinking"
    assert results["work_mode"] == "verified: power mode is Low"
    assert "is the active pool" in results["switchpool"]
    assert results["removepool"].endswith("is no longer listed")
    assert results["addpool"] == f"verified: pool {POOL['url']} (user w.1) is listed"
    assert results["restart"].startswith("verified:")
    assert miner.wm.commands == [
        "power_off",
        "power_on",
        "set_led",
        "set_low_power",
        "update_pools",
        "update_pools",
        "update_pools",
        "reboot",
    ]
    assert miner.wm.token_requests == 1  # one token, reused while valid
    assert not any(r.startswith(("ascset", "restart", "switchpool")) for r in miner.requests)
    assert [p.user for p in miner.pools][-1] == "w.1"


@pytest.mark.parametrize("drop", ["close", "reset"])
async def test_v2_a_reboot_dropped_unanswered_is_sent_and_read_back(
    sim: FleetSimulator, drop: str
) -> None:
    miner = sim.miners[0]
    assert miner.wm is not None
    miner.wm.reboot_drop = drop  # btminer goes down before answering the reboot
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    reboot = await driver.run(target, "restart", {})
    assert (reboot.state, reboot.result) == (
        "succeeded",
        "reboot sent (the miner dropped the connection)",
    )
    assert miner.wm.commands == ["reboot"]
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )


async def test_v2_an_expired_token_is_renewed_once(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.wm is not None
    miner.wm.token_ttl_s = 0.0  # every token expires at once on the miner
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert (await driver.run(target, "sleep", {})).state == "refused"  # even a fresh one fails
    miner.wm.token_ttl_s = 1800.0
    driver = DriverRegistry(quick_context()).driver_for(target)
    assert (await driver.run(target, "sleep", {})).state == "succeeded"
    miner.wm.tokens.clear()  # the miner forgot our token (rebooted, expired)
    requests = miner.wm.token_requests
    woke = await driver.run(target, "wake", {})
    assert woke.state == "succeeded" and not miner.sleeping
    assert miner.wm.token_requests == requests + 1


async def test_v2_wrong_admin_password_is_refused_once_and_remembered(
    sim: FleetSimulator, database: Database
) -> None:
    miner = sim.miners[0]
    assert miner.wm is not None
    miner.wm.password = "site-secret"
    target = await identified(sim, 0)
    store = CredentialStore(database, Fernet(Fernet.generate_key()))
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    refused = await driver.run(target, "sleep", {})
    assert refused.state == "refused"
    assert refused.result.startswith(
        "refused: wrong credentials for m0 (whatsminer, factory default user admin"
    )
    tokens, errors = miner.wm.token_requests, miner.wm.token_errors
    assert errors == 1 and tokens == 1  # a fresh token failing means the password: no retry
    again = await driver.run(target, "restart", {})
    assert again.state == "refused" and "wrong credentials" in again.result
    assert (miner.wm.token_requests, miner.wm.token_errors) == (tokens, errors)
    await store.set(
        scope="site",
        target="A",
        kind="whatsminer",
        username="admin",
        password="site-secret",
        port=None,
        actor="t",
        now=NOW,
    )
    done = await driver.run(target, "sleep", {})
    assert done.state == "succeeded" and miner.sleeping


async def test_v2_api_write_access_disabled(sim: FleetSimulator) -> None:
    miner = sim.miners[0]
    assert miner.wm is not None
    miner.wm.api_enabled = False
    target = await identified(sim, 0)
    driver = DriverRegistry(quick_context()).driver_for(target)
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "refused"
    assert outcome.result.startswith("refused: the miner's API refuses privileged commands")
    assert not miner.sleeping and miner.wm.commands == []


async def test_v2_a_hung_miner_costs_one_timeout(sim: FleetSimulator) -> None:
    target = await identified(sim, 0)
    await sim.miners[0].set_fault(Fault.HANG)
    driver = DriverRegistry(quick_context(web_timeout_s=1.0)).driver_for(target)
    started = time.monotonic()
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed" and "timeout" in outcome.result
    assert time.monotonic() - started < 5.0


async def test_a_plain_cgminer_answering_get_token_is_told_apart(sim: FleetSimulator) -> None:
    target = await identified(sim, 1)
    driver = WhatsminerDriver(quick_context())  # as if misidentified
    outcome = await driver.run(target, "sleep", {})
    assert outcome.state == "failed"
    assert outcome.result == (
        "unexpected reply: the miner does not answer Whatsminer's get_token "
        "(not a Whatsminer with API 2.x?)"
    )
    assert not sim.miners[1].sleeping


# ---------------------------------------------------------------------- API v3


async def test_v3_is_chosen_when_the_miner_answers_it(
    sim3: FleetSimulator, database: Database
) -> None:
    miner = sim3.miners[0]
    assert miner.wm is not None and miner.wm_v3 is not None and miner.v3_port
    store = await _store(database, port=miner.v3_port)  # the v3 port (4433 on real miners)
    target = await identified(sim3, 0)
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    assert isinstance(driver, WhatsminerDriver)
    results = await _all_actions(driver, target)
    assert results["sleep"] == "verified: the miner stopped hashing (btminer off)"
    assert results["wake"] == "verified: btminer is running again"
    assert results["fault_light"] == "verified: the fault light is blinking"
    assert results["work_mode"] == "verified: power mode is low"
    assert results["switchpool"].endswith("is first in priority")
    assert results["removepool"].endswith("is no longer listed")
    assert results["addpool"] == f"verified: pool {POOL['url']} (user w.1) is listed"
    assert results["restart"].startswith("verified:")
    assert miner.wm.commands == [
        "set.miner.service stop",
        "set.miner.service start",
        "set.system.led",
        "set.miner.power_mode low",
        "set.miner.pools",
        "set.miner.pools",
        "set.miner.pools",
        "set.system.reboot",
    ]
    assert miner.wm.token_requests == 0  # nothing went through v2
    assert miner.pools[-1].user == "w.1"


@pytest.mark.parametrize("drop", ["close", "reset"])
async def test_v3_a_reboot_dropped_unanswered_is_sent_and_read_back(
    sim3: FleetSimulator, database: Database, drop: str
) -> None:
    miner = sim3.miners[0]
    assert miner.wm is not None and miner.v3_port
    miner.wm.reboot_drop = drop
    store = await _store(database, port=miner.v3_port)
    target = await identified(sim3, 0)
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    reboot = await driver.run(target, "restart", {})
    assert (reboot.state, reboot.result) == (
        "succeeded",
        "reboot sent (the miner dropped the connection)",
    )
    assert miner.wm.commands == ["set.system.reboot"]
    assert (await driver.verify(target, "restart", {}, reboot)).startswith(
        "verified: uptime reset ("
    )


async def test_v3_two_accounts_on_one_pool_url_are_told_apart(
    sim3: FleetSimulator, database: Database
) -> None:
    miner = sim3.miners[0]
    assert miner.v3_port
    store = await _store(database, port=miner.v3_port)
    target = await identified(sim3, 0)
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    url, worker = miner.pools[0].url, miner.pools[0].user
    removed = await driver.run(target, "removepool", {"pool": 2})
    assert removed.state == "succeeded", removed.result
    params = {"url": url, "user": "customer.worker1", "password": "x"}
    added = await driver.run(target, "addpool", params)  # the same pool, another account
    assert await driver.verify(target, "addpool", params, added) == (
        f"verified: pool {url} (user customer.worker1) is listed"
    )
    switched = await driver.run(target, "switchpool", {"pool": 2})
    assert await driver.verify(target, "switchpool", {"pool": 2}, switched) == (
        f"verified: pool {url} (user customer.worker1) is first in priority"
    )
    gone = await driver.run(target, "removepool", {"pool": 0})  # the customer's account
    assert await driver.verify(target, "removepool", {"pool": 0}, gone) == (
        f"verified: pool {url} (user customer.worker1) is no longer listed"
    )
    assert (miner.pools[0].url, miner.pools[0].user) == (url, worker)  # the other account stays


async def test_v3_wrong_password_and_disabled_api(sim3: FleetSimulator, database: Database) -> None:
    miner = sim3.miners[0]
    assert miner.wm is not None
    miner.wm.v3_password = "changed"
    store = await _store(database, port=miner.v3_port)
    target = await identified(sim3, 0)
    driver = DriverRegistry(quick_context(credentials=store)).driver_for(target)
    refused = await driver.run(target, "sleep", {})
    assert refused.state == "refused"
    assert refused.result.startswith("refused: wrong credentials for m0 (whatsminer, user admin")
    errors = miner.wm.token_errors
    assert (await driver.run(target, "wake", {})).state == "refused"
    assert miner.wm.token_errors == errors == 1  # remembered: nothing sent again
    await store.set(
        scope="miner",
        target="m0",
        kind="whatsminer",
        username="super",
        password="changed",
        port=miner.v3_port,
        actor="t",
        now=NOW,
    )
    miner.wm.api_enabled = False
    disabled = await driver.run(target, "sleep", {})
    assert disabled.state == "refused"
    assert disabled.result.startswith("refused: the miner's API refuses privileged commands")
    miner.wm.api_enabled = True
    assert (await driver.run(target, "sleep", {})).state == "succeeded" and miner.sleeping


async def test_v3_a_hang_is_one_timeout(sim3: FleetSimulator, database: Database) -> None:
    miner = sim3.miners[0]
    store = await _store(database, port=miner.v3_port)
    target = await identified(sim3, 0)
    driver = DriverRegistry(quick_context(credentials=store, web_timeout_s=1.0)).driver_for(target)
    assert (await driver.run(target, "fault_light", {"on": True})).state == "succeeded"
    await miner.set_fault(Fault.HANG)
    started = time.monotonic()
    outcome = await driver.run(target, "fault_light", {"on": False})
    assert outcome.state == "failed" and "timeout" in outcome.result
    assert time.monotonic() - started < 5.0
    await asyncio.sleep(0)
