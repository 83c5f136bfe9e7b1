"""The signer hub and the signing service over real websockets: authentication by a signed
challenge, sign requests with timeouts and refusals, reconnects, and the shipped CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from backend.issuer.errors import SignerError, SignerRefused, SignerUnavailable
from backend.ndau import signer_protocol as proto
from backend.ndau.keys import Algorithm, generate_keypair, sign, verify
from backend.ndau.tx import IssueTx
from backend.signer.client import SigningService, _RequestRefused
from backend.signer.config import SignerConfigError, load_signer_config, parse_signer_config
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from tests.helpers import eventually, free_port, isolated_env
from tests.issuer.issuer_harness import (
    RunningIssuer,
    issuer_settings,
    start_issuer,
    start_signer,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def issuer(
    tmp_path: Path, bitmart_sim: BitmartSimulator, ndau_sim: NdauNodeSimulator
) -> AsyncIterator[RunningIssuer]:
    # issuer_enabled stays on, but no trades: the engine idles and the hub is what is tested.
    running = await start_issuer(issuer_settings(tmp_path, bitmart_sim, ndau_sim))
    try:
        yield running
    finally:
        await running.stop()


async def _handshake(url: str, identity: Any, *, tamper: bool = False) -> tuple[Any, dict]:
    ws = await websockets.connect(url)
    challenge = json.loads(await ws.recv())
    assert challenge["type"] == "challenge" and challenge["v"] == 1
    nonce = proto.b64decode(challenge["nonce"], "nonce")
    message = proto.auth_message(nonce if not tamper else nonce[::-1], challenge["hub"])
    hello = {
        "type": "hello",
        "name": "raw",
        "identity": identity.public_key().to_text(),
        "signature": sign(identity, message).to_text(),
        "keys": [],
    }
    await ws.send(proto.encode(hello))
    return ws, json.loads(await ws.recv())


async def test_only_allow_listed_identities_with_a_valid_challenge_signature_get_in(
    issuer: RunningIssuer, ndau_sim: NdauNodeSimulator
) -> None:
    _pub, stranger = generate_keypair(Algorithm.ED25519)
    ws, answer = await _handshake(issuer.signer_url, stranger)
    assert answer["type"] == "error" and answer["code"] == "auth_failed"
    assert "allow-list" in answer["message"]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd.code == proto.CLOSE_AUTH_FAILED

    ws, answer = await _handshake(issuer.signer_url, ndau_sim.identity_private, tamper=True)
    assert answer["code"] == "auth_failed" and "does not verify" in answer["message"]
    await ws.close()

    ws, answer = await _handshake(issuer.signer_url, ndau_sim.identity_private)
    assert answer["type"] == "welcome" and answer["session"]
    hub = issuer.service.hub
    await eventually(lambda: hub.connected, 30)
    assert hub.rejected == 2 and hub.status().sessions[0].name == "raw"
    await ws.send(proto.encode({"type": "ping"}))
    assert json.loads(await ws.recv())["type"] == "pong"
    await ws.send("not json")
    assert json.loads(await ws.recv())["code"] == "bad_frame"
    await ws.close()
    await eventually(lambda: not hub.connected, 30)


async def test_silence_after_the_challenge_times_out(issuer: RunningIssuer) -> None:
    issuer.service.hub.auth_timeout_s = 0.2
    async with websockets.connect(issuer.signer_url) as ws:
        assert json.loads(await ws.recv())["type"] == "challenge"
        answer = json.loads(await ws.recv())
        assert answer["code"] == "auth_timeout"


async def test_sign_requests_time_out_refuse_or_succeed(
    issuer: RunningIssuer, ndau_sim: NdauNodeSimulator, tmp_path: Path
) -> None:
    hub = issuer.service.hub
    keys = ndau_sim.rfe.validation_keys
    tx = IssueTx(qty=5, sequence=4171)
    with pytest.raises(SignerUnavailable, match="no signing service"):
        await hub.sign(tx, keys, timeout_s=1)
    # A signer that authenticates, claims the keys, and then never answers.
    ws = await websockets.connect(issuer.signer_url)
    challenge = json.loads(await ws.recv())
    nonce = proto.b64decode(challenge["nonce"], "nonce")
    await ws.send(
        proto.encode(
            {
                "type": "hello",
                "identity": ndau_sim.identity_public.to_text(),
                "signature": sign(
                    ndau_sim.identity_private, proto.auth_message(nonce, challenge["hub"])
                ).to_text(),
                "keys": [k.to_text() for k in keys],
            }
        )
    )
    await ws.recv()
    with pytest.raises(SignerError, match="did not answer within"):
        await hub.sign(tx, keys, timeout_s=0.2)
    request = json.loads(await ws.recv())
    assert request["type"] == "sign_request" and request["tx"] == tx.to_json()
    assert proto.b64decode(request["signable_bytes"], "x") == tx.signable_bytes()
    await ws.close()
    await eventually(lambda: not hub.connected, 30)

    path = ndau_sim.write_signer_config(tmp_path / "s.toml", [issuer.signer_url])
    config = load_signer_config(path)
    limited = parse_signer_config(
        {
            "urls": [issuer.signer_url],
            "identity_key": config.identity.to_text(),
            "signing_keys": [k.to_text() for k in config.signing_keys],
            "max_qty_napu": 4,
        }
    )
    service = SigningService(limited)
    task = asyncio.create_task(service.run())
    try:
        await eventually(lambda: hub.connected, 20)
        with pytest.raises(SignerRefused, match="above this signer's limit"):
            await hub.sign(tx, keys, timeout_s=2)
        small = IssueTx(qty=3, sequence=4171)
        signed = await hub.sign(small, keys, timeout_s=2)
        assert len(signed) == 2
        assert all(verify(s.key, small.signable_bytes(), s.signature) for s in signed)
    finally:
        service.request_stop()
        await task


def test_the_signing_service_checks_what_it_signs(ndau_sim: NdauNodeSimulator, tmp_path: Path):
    path = ndau_sim.write_signer_config(tmp_path / "s.toml", ["ws://127.0.0.1:1/x"])
    service = SigningService(load_signer_config(path))
    tx = IssueTx(qty=7, sequence=9)
    keys = [k.to_text() for k in ndau_sim.rfe.validation_keys]
    good = {
        "type": "sign_request",
        "tx_type": "Issue",
        "tx": tx.to_json(),
        "signable_bytes": proto.b64encode(tx.signable_bytes()),
        "keys": keys,
    }
    assert len(service.sign_request(good)) == 2
    cases = [
        ({**good, "tx_type": "Transfer"}, "unsupported_tx"),
        ({**good, "signable_bytes": proto.b64encode(b"\x00" * 16)}, "bad_request"),
        ({**good, "tx": {"qty": 7, "seq": 9}}, "bad_request"),
        ({**good, "keys": [generate_keypair(Algorithm.ED25519)[0].to_text()]}, "unknown_key"),
    ]
    for message, code in cases:
        with pytest.raises(_RequestRefused) as info:
            service.sign_request(message)
        assert info.value.code == code


def test_signer_config_errors_are_clear_and_keep_keys_secret(tmp_path: Path) -> None:
    _pub, key = generate_keypair(Algorithm.ED25519)
    path = tmp_path / "signer.toml"
    path.write_text(f'urls = ["ws://x/y"]\nidentity_key = "{key.to_text()}"\nsigning_keys = []\n')
    os.chmod(path, 0o644)
    with pytest.raises(SignerConfigError, match="chmod 600"):
        load_signer_config(path)
    os.chmod(path, 0o600)
    with pytest.raises(SignerConfigError, match="signing_keys must be a non-empty list"):
        load_signer_config(path)
    path.write_text(f'urls = ["http://x/y"]\nidentity_key = "{key.to_text()}"\n')
    with pytest.raises(SignerConfigError, match="not a ws:// or wss:// URL") as info:
        load_signer_config(path)
    assert key.to_text() not in str(info.value)
    path.write_text('identity_key = "npvtnonsense"\nsigning_keys=["x"]\nurls=["ws://a/b"]\n')
    with pytest.raises(SignerConfigError, match="identity_key") as info:
        load_signer_config(path)
    assert "nonsense" not in str(info.value)


async def test_the_signer_reconnects_when_the_issuer_comes_back(
    tmp_path: Path, bitmart_sim: BitmartSimulator, ndau_sim: NdauNodeSimulator
) -> None:
    port = free_port()
    settings = issuer_settings(tmp_path, bitmart_sim, ndau_sim)
    first = await start_issuer(settings, port=port)
    signer = start_signer(ndau_sim, tmp_path, [first.signer_url])
    try:
        await eventually(lambda: first.service.hub.connected, 20)
        await first.stop()
        await eventually(lambda: not signer.service.connected, 20)
        second = await start_issuer(settings, port=port, schema="none")
        try:
            # The hub counts the link before the signer has seen its own auth answer.
            await eventually(lambda: second.service.hub.connected and signer.service.connected, 20)
            assert signer.service.links[0].connects >= 2
        finally:
            await second.stop()
    finally:
        await signer.stop()


async def test_hashinsight_signer_cli_dials_in_and_stops_on_sigterm(
    issuer: RunningIssuer, ndau_sim: NdauNodeSimulator, tmp_path: Path
) -> None:
    config = ndau_sim.write_signer_config(tmp_path / "signer.toml", [issuer.signer_url])
    env = {**isolated_env(tmp_path), "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hashinsight_cli",
        "signer",
        "-c",
        str(config),
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(lambda: issuer.service.hub.connected, 30)
        tx = IssueTx(qty=11, sequence=4171)
        signed = await issuer.service.hub.sign(tx, ndau_sim.rfe.validation_keys, timeout_s=5)
        assert all(verify(s.key, tx.signable_bytes(), s.signature) for s in signed)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    assert "npvt" not in err.decode()  # private keys never printed


def test_hashinsight_signer_with_a_bad_config_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hashinsight_cli import main as cli

    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["signer", "-c", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
