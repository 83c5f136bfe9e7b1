"""Bulk exports streamed to disk (json/csv, gzip) and historical analytics' errors."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
from datetime import timedelta

import httpx
import pytest

from backend.core.audit import record_audit
from backend.exports.service import ExportService
from backend.exports.writer import FileWriter
from backend.runtime import Backend
from tests.api.conftest import bearer, register_partner


async def _done(http: httpx.AsyncClient, key: str, export_id: str) -> dict:
    for _ in range(200):
        body = (await http.get(f"/api/v1/exports/{export_id}", headers=bearer(key))).json()
        if body["status"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("export did not finish")


async def test_audit_export_streams_in_chunks_as_gzip_json_and_csv(
    http: httpx.AsyncClient,
    operator_key: str,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with backend.db.session() as session:
        for n in range(1200):
            record_audit(session, actor="test", action="test.row", target=str(n), detail={"n": n})
    writes: list[int] = []
    original = FileWriter.write

    def counting(self: FileWriter, data: bytes) -> None:
        writes.append(len(data))
        original(self, data)

    monkeypatch.setattr(FileWriter, "write", counting)
    created = await http.post(
        "/api/v1/exports",
        json={"dataset": "audit_log", "format": "json", "gzip": True},
        headers=bearer(operator_key),
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["estimated_size"] > 0 and body["download_url"].endswith("/download")
    done = await _done(http, operator_key, body["export_id"])
    assert done["status"] == "completed" and done["rows"] >= 1200
    assert len(writes) >= 3  # written batch by batch, never all at once
    download = await http.get(done["download_url"], headers=bearer(operator_key))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    assert "audit_log" in download.headers["content-disposition"]
    rows = json.loads(gzip.decompress(download.content))
    assert len(rows) == done["rows"]
    assert {r["action"] for r in rows} >= {"test.row", "key.create"}
    csv_export = await http.post(
        "/api/v1/exports",
        json={"dataset": "audit_log", "format": "csv", "start": "2000-01-01T00:00:00Z"},
        headers=bearer(operator_key),
    )
    csv_done = await _done(http, operator_key, csv_export.json()["export_id"])
    text = await http.get(csv_done["download_url"], headers=bearer(operator_key))
    assert text.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(text.text)))
    assert len(parsed) == csv_done["rows"] and json.loads(parsed[-1]["detail"]) == {"n": 1199}
    listed = (await http.get("/api/v1/exports", headers=bearer(operator_key))).json()
    assert listed["total"] == 2


async def test_exports_need_scope_tier_and_stay_with_their_owner(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    basic = await register_partner(http, operator_key, name="Basic", scopes=["read", "export"])
    refused = await http.post(
        "/api/v1/exports", json={"dataset": "api_key_usage"}, headers=bearer(basic["api_key"])
    )
    assert refused.status_code == 403 and "enterprise" in refused.json()["error"]["message"]
    big = await register_partner(http, operator_key, name="Big", tier="enterprise")
    hidden = await http.post(
        "/api/v1/exports", json={"dataset": "audit_log"}, headers=bearer(big["api_key"])
    )
    assert hidden.status_code == 404
    datasets = (await http.get("/api/v1/exports/datasets", headers=bearer(big["api_key"]))).json()
    assert "audit_log" not in {d["name"] for d in datasets["items"]}
    for _ in range(3):
        await http.get("/api/v1/me", headers=bearer(big["api_key"]))
        await http.get("/api/v1/me", headers=bearer(basic["api_key"]))
    await backend.services_by_name["api_access"].usage.flush()  # type: ignore[attr-defined]
    created = await http.post(
        "/api/v1/exports",
        json={"dataset": "api_key_usage", "format": "json"},
        headers=bearer(big["api_key"]),
    )
    done = await _done(http, big["api_key"], created.json()["export_id"])
    data = (await http.get(done["download_url"], headers=bearer(big["api_key"]))).json()
    assert data and {row["owner_id"] for row in data} == {big["partner_id"]}
    other = await http.get(f"/api/v1/exports/{done['export_id']}", headers=bearer(operator_key))
    assert other.status_code == 200  # admins see every export
    stranger = await register_partner(http, operator_key, name="Else", tier="enterprise")
    peek = await http.get(
        f"/api/v1/exports/{done['export_id']}", headers=bearer(stranger["api_key"])
    )
    assert peek.status_code == 404
    bad = await http.post(
        "/api/v1/exports",
        json={"dataset": "api_key_usage", "start": "2030-01-01T00:00:00Z", "end": "2020-01-01Z"},
        headers=bearer(big["api_key"]),
    )
    assert bad.status_code == 422


async def test_exports_expire_and_their_files_go(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    created = await http.post(
        "/api/v1/exports", json={"dataset": "audit_log"}, headers=bearer(operator_key)
    )
    done = await _done(http, operator_key, created.json()["export_id"])
    service = backend.services_by_name["exports"]
    assert isinstance(service, ExportService)
    row = await service.get(done["export_id"])
    assert row is not None and service.path_of(row).is_file()
    from sqlalchemy import update

    from backend.exports.models import ExportRow

    async with backend.db.session() as session:
        await session.execute(
            update(ExportRow)
            .where(ExportRow.export_id == done["export_id"])
            .values(expires_at=row.expires_at - timedelta(days=2))
        )
    assert await service.expire_now() == 1
    assert not service.path_of(row).exists()
    gone = await http.get(done["download_url"], headers=bearer(operator_key))
    assert gone.status_code == 410


async def test_historical_metrics_answer_clear_errors(
    http: httpx.AsyncClient, operator_key: str
) -> None:
    unknown = await http.get(
        "/api/v1/analytics/historical",
        params={"metric": "moon_phase"},
        headers=bearer(operator_key),
    )
    assert unknown.status_code == 422 and "btc_price" in unknown.json()["error"]["message"]
    nosource = await http.get(
        "/api/v1/analytics/historical",
        params={"metric": "difficulty", "period": "1w"},
        headers=bearer(operator_key),
    )
    assert nosource.status_code == 404 and "difficulty" in nosource.json()["error"]["message"]
    disabled = await http.get(
        "/api/v1/analytics/historical",
        params={"metric": "btc_price", "period": "1h"},
        headers=bearer(operator_key),
    )
    assert disabled.status_code == 404, disabled.text
    bad_period = await http.get(
        "/api/v1/analytics/historical",
        params={"metric": "btc_price", "period": "5y"},
        headers=bearer(operator_key),
    )
    assert bad_period.status_code == 422
    reversed_range = await http.get(
        "/api/v1/analytics/historical",
        params={"metric": "btc_price", "start": "1700000000", "end": "1600000000"},
        headers=bearer(operator_key),
    )
    assert reversed_range.status_code == 422
    listing = (await http.get("/api/v1/analytics/metrics", headers=bearer(operator_key))).json()
    names = {m["name"]: m for m in listing["items"]}
    assert set(names) >= {"btc_price", "network_hashrate", "fleet_hashrate", "online_miners"}
    assert names["difficulty"]["available"] is False and names["difficulty"]["reason"]


async def test_fleet_metrics_aggregate_the_samples(
    http: httpx.AsyncClient, operator_key: str, backend: Backend
) -> None:
    assert "fleet" in backend.services_by_name
    import time as _time
    from datetime import UTC, datetime

    from backend.fleet.models import FleetSampleRow

    now = _time.time()
    base = now - now % 60 - 600  # ten minutes ago, on a minute boundary
    async with backend.db.session() as session:
        for minute in range(3):
            ts = datetime.fromtimestamp(base + minute * 60 + 5, UTC)
            for miner, (hashrate, power, status) in enumerate(
                [(100.0, 3000.0, "online"), (200.0, 3500.0, "online"), (None, None, "offline")]
            ):
                session.add(
                    FleetSampleRow(
                        miner_id=f"m{miner}",
                        ts=ts,
                        status=status,
                        hashrate_ths=hashrate,
                        power_w=power,
                        temp_board_max_c=None,
                        temp_chip_max_c=None,
                    )
                )
    answers = {}
    for metric in ("fleet_hashrate", "fleet_power", "fleet_efficiency", "online_miners"):
        response = await http.get(
            "/api/v1/analytics/historical",
            params={"metric": metric, "period": "1h"},
            headers=bearer(operator_key),
        )
        assert response.status_code == 200, response.text
        answers[metric] = [p["value"] for p in response.json()["points"]]
    assert answers["fleet_hashrate"] == [300.0, 300.0, 300.0]
    assert answers["fleet_power"] == [6500.0, 6500.0, 6500.0]
    assert answers["fleet_efficiency"] == pytest.approx([6500 / 300] * 3)
    assert answers["online_miners"] == [2.0, 2.0, 2.0]
    created = await http.post(
        "/api/v1/exports",
        json={"dataset": "fleet_samples", "format": "csv"},
        headers=bearer(operator_key),
    )
    done = await _done(http, operator_key, created.json()["export_id"])
    text = (await http.get(done["download_url"], headers=bearer(operator_key))).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9 and {r["miner_id"] for r in rows} == {"m0", "m1", "m2"}
