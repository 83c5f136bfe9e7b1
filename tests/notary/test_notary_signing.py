"""Keccak, the notary key (env or 0600 file) and EIP-191 signatures anyone can recover."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import SecretStr

from backend.notary.keccak import hash_from_hex, keccak256, keccak_hex
from backend.notary.signing import (
    NotaryKeyError,
    key_file,
    load_notary_key,
    recover_signer,
)
from backend.settings import load_settings
from tests.helpers import isolated_env
from tests.notary.conftest import NOTARY_KEY, OTHER_KEY, make_key

# Keccak-256 (not SHA3-256) test vectors, as Solidity's keccak256 gives them.
KECCAK_EMPTY = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
KECCAK_HELLO = "0x1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8"


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak_hex(b"") == KECCAK_EMPTY
    assert keccak_hex(b"hello") == KECCAK_HELLO
    assert hash_from_hex(KECCAK_HELLO) == keccak256(b"hello")
    for bad in ("", "0x12", KECCAK_HELLO.upper(), KECCAK_HELLO[2:]):
        with pytest.raises(ValueError):
            hash_from_hex(bad)


def test_personal_sign_round_trip_and_wrong_signer() -> None:
    key = make_key()
    digest = keccak256(b"report")
    signature = key.sign_hash(digest)
    assert len(bytes.fromhex(signature[2:])) == 65
    assert recover_signer(digest, signature) == key.address
    # the same as a wallet's personal_sign(hash): recoverable with stock eth_account
    assert Account.recover_message(encode_defunct(primitive=digest), signature=signature) == (
        key.address
    )
    assert recover_signer(keccak256(b"other"), signature) != key.address
    assert recover_signer(digest, make_key(OTHER_KEY).sign_hash(digest)) != key.address
    with pytest.raises(ValueError):
        recover_signer(digest, "0x1234")
    with pytest.raises(ValueError):
        key.sign_hash(b"short")


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path))
    first = load_notary_key(settings)
    path = key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_notary_key(settings).address == first.address
    assert first.account.key.hex() not in repr(first)
    os.chmod(path, 0o644)
    with pytest.raises(NotaryKeyError, match="too open"):
        load_notary_key(settings)


def test_env_key_wins_and_bad_keys_never_leak(tmp_path: Path) -> None:
    settings = load_settings(isolated_env(tmp_path, BLOCKCHAIN_PRIVATE_KEY=NOTARY_KEY))
    assert load_notary_key(settings).address == make_key().address
    assert load_notary_key(settings).source == "env"
    assert not key_file(settings).exists()
    bad = settings.model_copy(update={"blockchain_private_key": SecretStr("0x" + "zz" * 32)})
    with pytest.raises(NotaryKeyError) as info:
        load_notary_key(bad)
    assert "zz" not in str(info.value)
    zero = settings.model_copy(update={"blockchain_private_key": SecretStr("0" * 64)})
    with pytest.raises(NotaryKeyError, match="not a valid secp256k1"):
        load_notary_key(zero)
