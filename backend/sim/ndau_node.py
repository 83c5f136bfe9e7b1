"""An ndau node's REST API on 127.0.0.1 with a small ledger that enforces the real Issue rules.

Rules (``ndau`` ``pkg/ndau/tx_issue.go`` and ``getTxAccount``): qty > 0; totalIssued + qty must
not exceed the RFE'd supply; the tx sequence must be above the RFE account's sequence (which then
becomes the tx's); at least one signature, every one valid for one of the account's validation
keys, over the tx's signable bytes. A tx whose hash is already committed answers 202 with code
1002 "tx already committed", on prevalidate and on submit, exactly as ndauapi does.

For the demo it also generates the RFE account's validation keys and a signer identity, and
writes the `signer.toml` the in-process signing service runs with.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.ndau.keys import (
    ALPHABET,
    Algorithm,
    PrivateKey,
    PublicKey,
    Signature,
    generate_keypair,
    verify,
)
from backend.ndau.tx import NAPU_PER_NDAU, IssueTx, IssueTxError
from backend.signer.config import render_signer_config, write_signer_config
from backend.sim.bitmart import LoopbackAsgiServer

CODE_OK = 0
CODE_FAIL = 1001
CODE_ALREADY_COMMITTED = 1002

# Malformed or foreign answers to `GET /transaction/detail/{hash}`: a 200 with an empty body,
# an object without BlockHeight, and the detail of some other tx.
DetailFault = Literal["empty", "no_height", "foreign"]


@dataclass
class CommittedTx:
    tx_hash: str
    tx_type: str
    data: dict[str, Any]
    height: int
    timestamp: str


@dataclass
class SimAccount:
    address: str
    sequence: int
    validation_keys: list[PublicKey]
    balance: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "validationKeys": [k.to_text() for k in self.validation_keys],
            "validationScript": None,
            "rewardsTarget": None,
            "incomingRewardsFrom": None,
            "delegationNode": None,
            "lock": None,
            "lastEAIUpdate": "2024-01-01T00:00:00Z",
            "lastWAAUpdate": "2024-01-01T00:00:00Z",
            "weightedAverageAge": "0",
            "sequence": self.sequence,
            "stakeRules": None,
            "costakers": None,
            "holds": None,
            "recourseSettings": {"period": "t1h", "changes_at": None, "next": None},
            "currencySeatDate": None,
            "parent": None,
            "progenitor": None,
        }


def sim_address(rng_bytes: bytes | None = None) -> str:
    """A plausible-looking ndau address (the simulator never checks address checksums)."""
    raw = rng_bytes or secrets.token_bytes(45)
    return "nda" + "".join(ALPHABET[b % len(ALPHABET)] for b in raw[:45])


class NdauNodeSimulator:
    """ndauapi endpoints the issuer uses, over one in-memory ledger."""

    def __init__(
        self,
        *,
        rfe_sequence: int = 4170,
        total_released_ndau: int = 10_000_000,
        total_issued_ndau: int = 2_919_000,
        key_algorithms: tuple[Algorithm, ...] = (Algorithm.ED25519, Algorithm.SECP256K1),
        port: int = 0,
    ) -> None:
        self.validation_private: list[PrivateKey] = []
        for algorithm in key_algorithms:
            _public, private = generate_keypair(algorithm)
            self.validation_private.append(private)
        self.identity_public, self.identity_private = generate_keypair(Algorithm.ED25519)
        self.rfe = SimAccount(
            address=sim_address(),
            sequence=rfe_sequence,
            validation_keys=[k.public_key() for k in self.validation_private],
        )
        self.total_released = total_released_ndau * NAPU_PER_NDAU
        self.total_issued = total_issued_ndau * NAPU_PER_NDAU
        self.ledger: list[CommittedTx] = []
        self.height = 1_000_000
        self.fail_next: list[int] = []  # HTTP statuses to answer with, one per request
        self.lose_next_submit_reply = 0  # commit, then answer 503 as if the reply was lost
        self.empty_next_submit_reply = 0  # commit nothing, answer 200 with an empty body
        self.garble_next_detail: list[DetailFault] = []  # one per detail request
        # The tx index lags the commits: the next N lookups of a committed tx miss it (detail
        # answers null, a resubmission is checked as new and refused "sequence too low").
        self.unindexed_lookups = 0
        # A node behind the chain (one of several behind a load balancer): the account lookup
        # reports the RFE sequence this much lower than the ledger's.
        self.account_lag = 0
        self.submits = 0
        self.prevalidates = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        app = Starlette(
            routes=[
                Route("/system/get/{names}", self._system_get, methods=["GET"]),
                Route("/account/account/{address}", self._account, methods=["GET"]),
                Route("/price/current", self._price, methods=["GET"]),
                Route("/tx/prevalidate/{txtype}", self._prevalidate, methods=["POST"]),
                Route("/tx/submit/{txtype}", self._submit, methods=["POST"]),
                Route("/transaction/detail/{txhash}", self._detail, methods=["GET"]),
                Route("/node/health", self._health, methods=["GET"]),
            ]
        )
        self._server = LoopbackAsgiServer(app, port)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def signer_config_text(
        self, urls: list[str], *, reconnect: tuple[float, float] = (0.5, 5.0)
    ) -> str:
        """A signer.toml holding this chain's RFE validation keys and the sim identity."""
        return render_signer_config(
            name="demo-signer",
            urls=urls,
            identity=self.identity_private,
            signing_keys=self.validation_private,
            reconnect=reconnect,
        )

    def write_signer_config(self, path: Path, urls: list[str], **kw: Any) -> Path:
        return write_signer_config(path, self.signer_config_text(urls, **kw))

    def settings_overrides(self) -> dict[str, Any]:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hashinsight-ndau-sim-")
        config = self.write_signer_config(Path(self._tmp.name) / "signer.toml", [])
        return {
            "ndau_node_url": self.url,
            "issuer_signer_keys": self.identity_public.to_text(),
            # The demo runs the signing service inside the backend, dialing the hub it serves.
            "issuer_demo_signer_config": config,
        }

    def describe(self) -> list[str]:
        return [
            f"ndau node API (RFE {self.rfe.address[:12]}…, sequence {self.rfe.sequence}): "
            f"{self.url}"
        ]

    # ------------------------------------------------------------------ ledger helpers

    def issue_txs(self) -> list[CommittedTx]:
        return [tx for tx in self.ledger if tx.tx_type == "Issue"]

    def bump_sequence(self, by: int = 1) -> None:
        """Another tx from the RFE account (e.g. a ChangeValidation) consumed sequences."""
        self.rfe.sequence += by
        data = {"sequence": self.rfe.sequence, "nonce": secrets.token_hex(4)}
        self._commit("ChangeValidation", data)

    def _commit(
        self, tx_type: str, data: dict[str, Any], tx_hash: str | None = None
    ) -> CommittedTx:
        self.height += 1
        committed = CommittedTx(
            tx_hash=tx_hash or secrets.token_urlsafe(16)[:22],
            tx_type=tx_type,
            data=data,
            height=self.height,
            timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.ledger.append(committed)
        return committed

    def find(self, tx_hash: str) -> CommittedTx | None:
        return next((tx for tx in self.ledger if tx.tx_hash == tx_hash), None)

    def _indexed(self, tx_hash: str) -> CommittedTx | None:
        """`find` as the node's tx index answers it, which may lag (`unindexed_lookups`)."""
        committed = self.find(tx_hash)
        if committed is not None and self.unindexed_lookups:
            self.unindexed_lookups -= 1
            return None
        return committed

    def validate_issue(self, tx: IssueTx) -> str | None:
        """The node's reason to refuse this Issue, or None when it would commit."""
        if tx.qty <= 0:
            return "Issue qty may not be <= 0"
        if self.total_issued + tx.qty > self.total_released:
            return "cannot issue more ndau than have been RFE'd"
        if tx.sequence <= self.rfe.sequence:
            return "sequence too low"
        if not tx.signatures:
            return "no signatures"
        signable = tx.signable_bytes()
        for text in tx.signatures:
            signature = Signature.from_text(text)
            if not any(verify(key, signable, signature) for key in self.rfe.validation_keys):
                return "invalid signature"
        return None

    # ------------------------------------------------------------------ HTTP

    def _fault(self) -> Response | None:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return JSONResponse({"msg": "simulated failure"}, status_code=status)
        return None

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"Ok": True})

    async def _system_get(self, request: Request) -> Response:
        if (fault := self._fault()) is not None:
            return fault
        names = request.path_params["names"].split(",")
        values: dict[str, Any] = {}
        for name in names:
            if name == "ReleaseFromEndowmentAddress":
                values[name] = [self.rfe.address]
        return JSONResponse(values)

    async def _account(self, request: Request) -> Response:
        if (fault := self._fault()) is not None:
            return fault
        address = request.path_params["address"]
        data = self.rfe.to_json() if address == self.rfe.address else None
        if data is not None and self.account_lag:
            data["sequence"] -= self.account_lag
        return JSONResponse({address: data})

    async def _price(self, _request: Request) -> Response:
        if (fault := self._fault()) is not None:
            return fault
        return JSONResponse(
            {
                "marketPrice": 1_670_000_000_000,
                "targetPrice": 1_700_000_000_000,
                "floorPrice": 240_000_000_000,
                "totalReleased": self.total_released,
                "totalIssued": self.total_issued,
                "totalNdau": self.total_issued + 50_000 * NAPU_PER_NDAU,
                "totalBurned": 123 * NAPU_PER_NDAU,
                "sib": 0,
            }
        )

    async def _parse(self, request: Request) -> IssueTx | Response:
        txtype = request.path_params["txtype"]
        if txtype.lower() != "issue":
            return JSONResponse(
                {"msg": f"tx.Data did not unmarshal into a tx (no txtype matched {txtype})"},
                status_code=400,
            )
        try:
            return IssueTx.from_json(json.loads(await request.body()))
        except (ValueError, IssueTxError) as exc:
            return JSONResponse(
                {"msg": f"tx.Data did not unmarshal into a tx ({exc})"}, status_code=400
            )

    async def _prevalidate(self, request: Request) -> Response:
        self.prevalidates += 1
        if (fault := self._fault()) is not None:
            return fault
        parsed = await self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        tx_hash = parsed.tx_hash()
        if self._indexed(tx_hash) is not None:
            body = {"fee_napu": 0, "sib_napu": 0, "hash": tx_hash, "msg": "tx already committed"}
            return JSONResponse({**body, "code": CODE_ALREADY_COMMITTED}, status_code=202)
        reason = self.validate_issue(parsed)
        if reason is not None:
            body = {"fee_napu": 0, "sib_napu": 0, "err": reason, "err_code": -1, "hash": tx_hash}
            return JSONResponse({**body, "code": CODE_FAIL}, status_code=400)
        return JSONResponse({"fee_napu": 0, "sib_napu": 0, "hash": tx_hash, "code": CODE_OK})

    async def _submit(self, request: Request) -> Response:
        self.submits += 1
        if (fault := self._fault()) is not None:
            return fault
        parsed = await self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        tx_hash = parsed.tx_hash()
        if self._indexed(tx_hash) is not None:
            return JSONResponse(
                {"hash": tx_hash, "msg": "tx already committed", "code": CODE_ALREADY_COMMITTED},
                status_code=202,
            )
        reason = self.validate_issue(parsed)
        if reason is not None:
            return JSONResponse({"msg": f"error from commit ({reason})"}, status_code=400)
        if self.empty_next_submit_reply:
            self.empty_next_submit_reply -= 1
            return Response(b"", status_code=200, media_type="application/json")
        self.rfe.sequence = parsed.sequence
        self.total_issued += parsed.qty
        self._commit("Issue", parsed.to_json(), tx_hash)
        if self.lose_next_submit_reply:
            self.lose_next_submit_reply -= 1
            return JSONResponse({"msg": "simulated lost reply"}, status_code=503)
        return JSONResponse({"hash": tx_hash, "code": CODE_OK})

    async def _detail(self, request: Request) -> Response:
        if (fault := self._fault()) is not None:
            return fault
        if self.garble_next_detail:
            return self._garbled_detail(self.garble_next_detail.pop(0))
        committed = self._indexed(request.path_params["txhash"])
        if committed is None:
            return JSONResponse(None)  # what ndauapi answers for a hash it does not have
        return JSONResponse(_detail_json(committed))

    def _garbled_detail(self, fault: DetailFault) -> Response:
        if fault == "empty":
            return Response(b"", status_code=200, media_type="application/json")
        if fault == "no_height":
            return JSONResponse({})
        other = CommittedTx(
            tx_hash=secrets.token_urlsafe(16)[:22],
            tx_type="Transfer",
            data={"qty": 1, "sequence": 1},
            height=self.height,
            timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return JSONResponse(_detail_json(other))


def _detail_json(committed: CommittedTx) -> dict[str, Any]:
    return {
        "BlockHeight": committed.height,
        "TxOffset": 0,
        "Fee": 0,
        "SIB": 0,
        "TxHash": committed.tx_hash,
        "TxType": committed.tx_type,
        "TxData": committed.data,
        "Timestamp": committed.timestamp,
    }
