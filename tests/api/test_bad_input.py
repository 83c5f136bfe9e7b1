"""Bad input found by an attacker review answers 4xx in the error shape, never 500.

Each case once reached the database or the resolver and came back as an unhandled OverflowError or
UnicodeError; the bounds are now in the spec (ids, offsets) or checked before use (times, hosts).
Real HTTP against a live backend on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.runtime import BackendThread
from backend.settings import load_settings
from tests.api.conftest import FAST
from tests.helpers import isolated_env


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp_path: Path = tmp_path_factory.mktemp("bad-input")
    settings = load_settings(isolated_env(tmp_path), overrides={**FAST, "issuer_enabled": True})
    thread = BackendThread(settings, mode="serve")
    backend = thread.start()
    key = backend.initial_operator_key
    assert key is not None
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(
            base_url=backend.url, headers=headers, trust_env=False, timeout=30
        ) as client:
            yield client
    finally:
        thread.stop()


def assert_refused(response: httpx.Response, status: int = 422) -> dict[str, str]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    return error


def test_an_issue_id_beyond_64_bits_is_refused(api: httpx.Client) -> None:
    assert_refused(api.get("/api/v1/issuer/issues/99999999999999999999999"))
    assert_refused(api.get("/api/v1/issuer/issues/0"))
    # The largest id the database can hold is a plain miss.
    assert_refused(api.get(f"/api/v1/issuer/issues/{2**63 - 1}"), 404)


def test_export_times_outside_the_calendar_after_utc_are_refused(api: httpx.Client) -> None:
    error = assert_refused(
        api.post(
            "/api/v1/exports",
            json={
                "dataset": "audit_log",
                "start": "9999-12-31T00:00:00Z",
                "end": "0001-01-01T00:00:00+14:00",
            },
        )
    )
    assert error["message"].startswith(("start", "end"))
    backwards = api.post(
        "/api/v1/exports",
        json={
            "dataset": "audit_log",
            "start": "2025-02-01T00:00:00Z",
            "end": "2025-01-01T00:00:00Z",
        },
    )
    assert "start must not be after end" in assert_refused(backwards)["message"]
    fine = api.post(
        "/api/v1/exports",
        json={
            "dataset": "audit_log",
            "start": "2025-01-01T00:00:00+14:00",
            "end": "2025-01-02T00:00:00-12:00",
        },
    )
    assert fine.status_code == 202, fine.text


def test_a_webhook_host_with_an_overlong_label_is_refused(api: httpx.Client) -> None:
    partner = api.post("/api/v1/partners/register", json={"name": "Label Test"})
    assert partner.status_code == 201, partner.text
    partner_id = partner.json()["partner_id"]
    for url in (
        f"https://{'a' * 300}.example.com/hook",
        f"https://{'.'.join(['abcdefghij'] * 26)}/hook",  # 285 characters in all
    ):
        answer = api.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": ["miner.alert"], "partner_id": partner_id},
        )
        assert assert_refused(answer)["message"].startswith("url:")
    nul = {"url": "https://exa\u0000mple.com/hook", "event_types": ["miner.alert"]}
    answer = api.post("/api/v1/webhooks", json={**nul, "partner_id": partner_id})
    assert "NUL character" in assert_refused(answer, 400)["message"]  # before any route


def test_an_alert_offset_beyond_any_page_is_refused(api: httpx.Client) -> None:
    assert_refused(
        api.get(
            "/api/v1/alerts",
            params={"state": "acknowledged", "offset": "7673833569964009382215680", "limit": 326},
        )
    )
    assert api.get("/api/v1/alerts", params={"offset": 10_000_000}).status_code == 200
