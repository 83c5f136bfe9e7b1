"""No secret reaches any log output, uvicorn's own included, over real HTTP to a live backend.

A route that fails with a bearer key and URL credentials in its exception message makes uvicorn
log "Exception in ASGI application" with the traceback; a key in a query string makes an access
line. Neither may show the secret on stderr/stdout (uvicorn's handlers write there), in a plain
handler without any filter, or in pytest's own capture.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from backend.core.logging import RedactingFilter, redact_record, scrub
from backend.runtime import Backend
from backend.settings import load_settings
from tests.helpers import isolated_env

KEY = "hsk_abcdef123456_" + "9f" * 32
PASSWORD = "Tr0ub4dor-rpc"
SECRETS = (KEY.split("_", 2)[2], PASSWORD)


@pytest.fixture
def plain_handler() -> Iterator[io.StringIO]:
    """A root handler with no redacting filter: what any library's handler would print."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


async def _backend(tmp_path: Path, **overrides: object) -> Backend:
    settings = load_settings(
        isolated_env(tmp_path),
        overrides={"api_port": 0, "notary_enabled": False, "issuer_enabled": False, **overrides},
    )
    backend = Backend(settings, mode="serve")
    await backend.start()
    return backend


def _assert_clean(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, output


async def test_a_failing_request_logs_its_traceback_without_secrets(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    plain_handler: io.StringIO,
) -> None:
    backend = await _backend(tmp_path)
    try:
        assert backend._server is not None
        app = backend._server.config.app
        assert isinstance(app, FastAPI)

        async def explode() -> None:
            raise RuntimeError(
                f"upstream refused Authorization: Bearer {KEY} "
                f"at https://node:{PASSWORD}@rpc.example/v1"
            )

        app.add_api_route("/test-explode", explode)
        async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=20) as client:
            response = await client.get("/test-explode")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
    finally:
        await backend.stop()
    out, err = capfd.readouterr()
    text = plain_handler.getvalue()
    _assert_clean(out, err, text, caplog.text)
    assert "Exception in ASGI application" in text  # uvicorn's record reached our handlers
    assert "RuntimeError: upstream refused Authorization: Bearer …" in text  # the traceback
    assert "https://node:…@rpc.example" in text


async def test_access_lines_are_scrubbed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], plain_handler: io.StringIO
) -> None:
    backend = await _backend(tmp_path, log_level="debug")  # debug: uvicorn's access lines on
    try:
        async with httpx.AsyncClient(base_url=backend.url, trust_env=False, timeout=20) as client:
            response = await client.get("/api/v1/health", params={"api_key": KEY})
        assert response.status_code == 400  # keys are refused in the query string
    finally:
        await backend.stop()
    out, err = capfd.readouterr()
    text = plain_handler.getvalue()
    _assert_clean(out, err, text)
    assert 'GET /api/v1/health?api_key=… HTTP/1.1" 400' in text, text


def test_the_filter_keeps_access_log_arguments_usable() -> None:
    """uvicorn's access formatter unpacks `record.args`: scrubbing must keep it a tuple."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/x?token={KEY}", "1.1", 200),
        None,
    )
    RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and record.args[4] == 200
    assert record.getMessage() == '127.0.0.1:5 - "GET /x?token=… HTTP/1.1" 200'


def test_a_traceback_is_scrubbed_once_and_for_all() -> None:
    try:
        raise ValueError(f"password={PASSWORD}")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    redact_record(record)
    assert record.exc_info is None and record.exc_text is not None
    assert "ValueError: password=…" in record.exc_text
    assert PASSWORD not in logging.Formatter().format(record)
    assert scrub(f"Bearer {KEY}") == "Bearer …"
