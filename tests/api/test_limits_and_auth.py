"""Rate-limit headers and 429s, failed-auth throttling, secrets kept out of logs."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx
import pytest

from backend.auth.access import ApiAccessService
from backend.runtime import Backend
from tests.api.conftest import bearer, register_partner


async def test_rate_limit_headers_then_429_with_retry_after(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    # Windows are minutes aligned on the epoch: start early in one, so the hundred requests
    # below (a few seconds on a loaded machine) never straddle a reset.
    if (left := 60 - time.time() % 60) < 40:
        await asyncio.sleep(left + 0.05)
    partner = await register_partner(http, operator_key)  # basic: 100/min, 5000/h
    key = partner["api_key"]
    first = await http.get("/api/v1/me", headers=bearer(key))
    h = first.headers
    assert h["x-ratelimit-limit"] == "100" and h["x-ratelimit-remaining"] == "99"
    reset = int(h["x-ratelimit-reset"])
    assert time.time() <= reset <= math.ceil(time.time()) + 60
    assert h["ratelimit-policy"] == '"minute";q=100;w=60, "hour";q=5000;w=3600'
    assert h["ratelimit"].startswith('"minute";r=99;t=')
    # Errors answered to an authenticated caller carry the headers too.
    missing = await http.get("/api/v1/keys/hsk_none", headers=bearer(key))
    assert missing.status_code == 404 and missing.headers["x-ratelimit-remaining"] == "98"
    last = None
    for _ in range(98):
        last = await http.get("/api/v1/me", headers=bearer(key))
    assert last is not None and last.status_code == 200
    assert last.headers["x-ratelimit-remaining"] == "0"
    limited = await http.get("/api/v1/me", headers=bearer(key))
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-remaining"] == "0"
    # Other keys are not affected; operator keys have their own, generous limits.
    op = await http.get("/api/v1/me", headers=bearer(operator_key))
    assert op.status_code == 200 and int(op.headers["x-ratelimit-limit"]) >= 6000
    limits = (await http.get("/api/v1/limits", headers=bearer(operator_key))).json()
    assert limits["limits"]["tier"] == "operator"
    assert {w["name"] for w in limits["windows"]} == {"minute", "hour"}


async def test_unauthenticated_answers_carry_no_rate_limit_headers(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/api/v1/me")
    assert response.status_code == 401 and "x-ratelimit-limit" not in response.headers


async def test_failed_auth_is_slowed_then_blocked_and_counted_in_health(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    access = backend.services_by_name["api_access"]
    assert isinstance(access, ApiAccessService)
    bad = "hsk_aaaaaaaaaaaa_" + "1" * 64
    timings, slowed = [], []
    for _ in range(5):  # slow_after=3: the 4th and 5th failures are answered slowly
        started = time.monotonic()
        assert (await http.get("/api/v1/me", headers=bearer(bad))).status_code == 401
        timings.append(time.monotonic() - started)
        slowed.append(access.throttle.stats()["slowed_addresses"])
    # Wall time only bounds the delays from below (a loaded host adds, never removes, time).
    assert slowed == [0, 0, 0, 1, 1] and timings[3] >= 0.1 and timings[4] >= 0.2
    assert (await http.get("/api/v1/me", headers=bearer(bad))).status_code == 401  # 6th: block
    blocked = await http.get("/api/v1/me", headers=bearer(operator_key))
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "auth_blocked"
    assert int(blocked.headers["retry-after"]) > 0
    access.report_health()
    item = backend.health.get("api-auth")
    assert item is not None and item.status == "degraded" and item.failures >= 6
    assert "1 blocked now" in (item.detail or "")
    # The block is per address: another address is not blocked.
    assert access.throttle.blocked_for("127.0.0.1") is not None
    assert access.throttle.blocked_for("10.1.2.3") is None


async def test_a_burst_of_bad_keys_queues_no_more_than_two_checks_per_address(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    assert (await http.get("/api/v1/me", headers=bearer(operator_key))).status_code == 200
    key_id = operator_key.split("_")[1]  # a real key id: each guess costs an Argon2id check
    guesses = [f"hsk_{key_id}_{n:064x}" for n in range(10)]
    burst = [http.get("/api/v1/me", headers=bearer(guess)) for guess in guesses]
    meanwhile = http.get("/api/v1/me", headers=bearer(operator_key))
    *answers, real = await asyncio.gather(*burst, meanwhile)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401, 401] + [429] * 8  # two checked, the rest refused at once
    busy = next(answer for answer in answers if answer.status_code == 429)
    assert busy.json()["error"]["code"] == "auth_busy" and busy.headers["retry-after"] == "1"
    assert real.status_code == 200  # the cached key is answered beside the burst


async def test_no_key_or_secret_reaches_the_logs(
    http: httpx.AsyncClient, operator_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    partner = await register_partner(http, operator_key)
    key, secret = partner["api_key"], partner["api_secret"]
    await http.post(f"/api/v1/keys/{partner['key_id']}/reveal", headers=bearer(operator_key))
    await http.get("/api/v1/me", headers=bearer(key + "x"))
    await http.get("/api/v1/me", params={"api_key": key})
    logging.getLogger("hashinsight.test").warning("partner said Authorization: Bearer %s", key)
    from backend.core.logging import RedactingFilter

    redact = RedactingFilter()
    text = ""
    for record in caplog.records:
        redact.filter(record)
        text += record.getMessage() + "\n"
    assert key.split("_")[2] not in text
    assert secret[6:] not in text
    assert operator_key.split("_")[2] not in text
