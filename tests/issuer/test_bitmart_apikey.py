"""Bitmart key files: found in <config>/bitmart/, validated, private, and never echoed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from backend.issuer.apikey import find_key_file, load_api_key
from backend.issuer.errors import IssuerConfigError

SECRET = "6c6c98544461bbe71db2bca4c6d7fd0021e0ba9efc215f9c6ad41852df9d9df9"
ACCESS = "80618e45710812162b04892c7ee5ead4a3cc3e56"


def write(path: Path, body: object, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    os.chmod(path, mode)
    return path


def good(**extra: str) -> dict[str, str]:
    return {"access": ACCESS, "secret": SECRET, "memo": "test001", **extra}


def test_loads_a_private_key_file_and_signs_like_bitmart_docs(tmp_path: Path) -> None:
    path = write(tmp_path / "bitmart" / "prod.apikey.json", good())
    assert find_key_file(tmp_path) == path
    key = load_api_key(path)
    # Bitmart's documented scheme: hex HMAC-SHA256(secret, timestamp#memo#body).
    body = '{"symbol":"BTC_USDT","price":"8600","count":"100"}'
    expected = hmac.new(
        SECRET.encode(), f"1589793796145#test001#{body}".encode(), hashlib.sha256
    ).hexdigest()
    assert key.sign("1589793796145", body) == expected
    assert key.endpoint is None
    assert SECRET not in repr(key) and "test001" not in repr(key) and ACCESS not in repr(key)
    assert key.access_hint == "8061…"


def test_endpoint_overrides_the_base_url(tmp_path: Path) -> None:
    path = write(tmp_path / "k.apikey.json", good(endpoint="https://example.test/"))
    assert load_api_key(path).endpoint == "https://example.test"
    bad = write(tmp_path / "b.apikey.json", good(endpoint="ftp://x"))
    with pytest.raises(IssuerConfigError, match="endpoint must be an http"):
        load_api_key(bad)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"access": ACCESS, "secret": SECRET}, "missing or empty field\\(s\\) memo"),
        ({**good(), "secret": ""}, "missing or empty field\\(s\\) secret"),
        ({**good(), "passphrase": "x"}, "unknown field"),
        ([1, 2], "must be a JSON object"),
        ('{"access": "' + ACCESS + '", "secret": "' + SECRET + '",', "not valid JSON"),
    ],
)
def test_bad_files_give_clear_errors_without_secrets(
    tmp_path: Path, body: object, message: str
) -> None:
    path = write(tmp_path / "x.apikey.json", body)
    with pytest.raises(IssuerConfigError, match=message) as info:
        load_api_key(path)
    assert SECRET not in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_group_or_world_readable_files_are_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "open.apikey.json", good(), mode)
    with pytest.raises(IssuerConfigError, match="chmod 600"):
        load_api_key(path)


def test_finding_the_file(tmp_path: Path) -> None:
    with pytest.raises(IssuerConfigError, match="no Bitmart key"):
        find_key_file(tmp_path)
    write(tmp_path / "bitmart" / "a.apikey.json", good())
    write(tmp_path / "bitmart" / "b.apikey.json", good())
    with pytest.raises(IssuerConfigError, match="several Bitmart key files"):
        find_key_file(tmp_path)
    explicit = tmp_path / "elsewhere.json"
    assert find_key_file(tmp_path, explicit) == explicit
    with pytest.raises(IssuerConfigError, match="does not exist"):
        load_api_key(explicit)
