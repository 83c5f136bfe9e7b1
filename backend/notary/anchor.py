"""Anchoring: an EVM transaction whose data is the report hash, and reading it back.

The chain is the one at ``BASE_L2_RPC`` (Base Sepolia, chain id 84532) when set, reached over
JSON-RPC through the backend's HTTP client factory (timeouts, retries, breaker, health); else an
embedded chain, web3's ``EthereumTesterProvider`` (py-evm in memory, mined on demand), whose
prefunded account tops up the notary key. The embedded chain lives as long as the process: an
anchor made on an earlier run can no longer be checked there, and verification says so.

The anchor is a type-2 (EIP-1559) transaction from the notary address to itself, value 0, data =
the 32-byte Keccak-256 hash, signed locally. web3 is synchronous: every call runs on one worker
thread (py-evm is not thread-safe) under an asyncio timeout, never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from eth_account import Account
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from backend.core.backoff import exponential
from backend.core.health import HealthRegistry
from backend.core.http import HttpClientFactory, ProviderClient, ProviderError
from backend.core.untrusted import pin_recursion_limit
from backend.notary.signing import NotaryKey

T = TypeVar("T")
HEALTH_NAME = "evm-chain"
EMBEDDED_FUNDING_WEI = 10 * 10**18
MIN_BALANCE_WEI = 10**17
DEFAULT_PRIORITY_FEE_WEI = 10**9
POLL_S = 0.05  # the first wait between two polls of the chain, doubling up to POLL_MAX_S
POLL_MAX_S = 2.0

ChainKind = Literal["embedded", "rpc"]


class ChainError(Exception):
    """A chain call failed or timed out; the message is safe to store and show."""


@dataclass(frozen=True, slots=True)
class ChainInfo:
    kind: ChainKind
    chain_id: int
    genesis: str  # hash of block 0; for the embedded chain a random id per run
    target: str


@dataclass(frozen=True, slots=True)
class PreparedTx:
    tx_hash: str
    raw: str
    nonce: int


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    status: int


@dataclass(frozen=True, slots=True)
class AnchorTx:
    """A transaction as the chain reports it, with its receipt when it is mined."""

    tx_hash: str
    sender: str
    to: str | None
    data: bytes
    block_number: int | None
    receipt: Receipt | None


def _hex(value: Any) -> str:
    return Web3.to_hex(value)


class FactoryRpcProvider(JSONBaseProvider):
    """A web3 provider whose HTTP goes through the backend's `ProviderClient` (on its loop)."""

    def __init__(
        self, client: ProviderClient, loop: asyncio.AbstractEventLoop, timeout_s: float
    ) -> None:
        super().__init__()
        self._client = client
        self._loop = loop
        self._timeout_s = timeout_s

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        future = asyncio.run_coroutine_threadsafe(
            self._client.request(
                "POST", "", content=body, headers={"Content-Type": "application/json"}
            ),
            self._loop,
        )
        try:
            response = future.result(self._timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ChainError(f"{method}: no answer within {self._timeout_s:g}s") from None
        except ProviderError as exc:
            raise ChainError(str(exc)) from None
        return self.decode_rpc_response(response.content)

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


class AnchorChain:
    """One EVM chain the notary anchors on; every method is async and bounded in time."""

    def __init__(
        self,
        kind: ChainKind,
        make_web3: Callable[[], Web3],
        *,
        target: str,
        health: HealthRegistry,
        timeout_s: float,
    ) -> None:
        self.kind: ChainKind = kind
        self.target = target
        self._make_web3 = make_web3
        self._health = health
        self._timeout_s = timeout_s
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="notary-chain")
        self._w3: Web3 | None = None
        self._info: ChainInfo | None = None
        self._lock = asyncio.Lock()
        health.register(HEALTH_NAME, "chain", target)

    # --- plumbing -------------------------------------------------------------------------

    async def _call(self, fn: Callable[[], T], what: str, timeout_s: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(
                loop.run_in_executor(self._executor, fn), timeout_s or self._timeout_s
            )
        except TimeoutError:
            error = f"{what}: no answer within {timeout_s or self._timeout_s:g}s"
            self._health.failure(HEALTH_NAME, error)
            raise ChainError(error) from None
        except ChainError as exc:
            if self.kind == "embedded":
                self._health.failure(HEALTH_NAME, str(exc))
            raise
        except TransactionNotFound:
            raise
        except Exception as exc:  # web3/py-evm raise many types; normalise them
            error = f"{what}: {type(exc).__name__}: {str(exc)[:160]}"
            if self.kind == "embedded":
                self._health.failure(HEALTH_NAME, error)
            raise ChainError(error) from None
        if self.kind == "embedded":
            self._health.success(HEALTH_NAME, (time.monotonic() - started) * 1000)
        return result

    async def info(self) -> ChainInfo:
        """Connect (once) and describe the chain; the embedded chain is created here."""
        async with self._lock:
            if self._info is None:
                self._info = await self._call(self._connect, "connect", self._timeout_s * 3)
            return self._info

    def _connect(self) -> ChainInfo:
        w3 = self._make_web3()
        chain_id = int(w3.eth.chain_id)
        genesis = _hex(w3.eth.get_block(0)["hash"])
        if self.kind == "embedded":  # every embedded chain has the same genesis: tell runs apart
            genesis = "0x" + secrets.token_hex(32)
        self._w3 = w3
        return ChainInfo(self.kind, chain_id, genesis, self.target)

    @property
    def w3(self) -> Web3:
        assert self._w3 is not None, "call info() first"
        return self._w3

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- writing an anchor ----------------------------------------------------------------

    async def prepare(self, key: NotaryKey, digest: bytes) -> PreparedTx:
        """Build and sign the anchor transaction (not sent yet: the caller persists it first)."""
        await self.info()
        return await self._call(lambda: self._prepare(key, digest), "prepare anchor")

    def _prepare(self, key: NotaryKey, digest: bytes) -> PreparedTx:
        w3 = self.w3
        address = key.address
        if self.kind == "embedded":
            self._fund(address)
        nonce = int(w3.eth.get_transaction_count(address, "pending"))
        tx: dict[str, Any] = {
            "to": address,
            "value": 0,
            "data": _hex(digest),
            "nonce": nonce,
            "chainId": int(w3.eth.chain_id),
        }
        base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            tx["gasPrice"] = int(w3.eth.gas_price)
        else:
            try:
                priority = int(w3.eth.max_priority_fee)
            except Exception:  # not every node has eth_maxPriorityFeePerGas
                priority = DEFAULT_PRIORITY_FEE_WEI
            tx.update(maxPriorityFeePerGas=priority, maxFeePerGas=2 * int(base_fee) + priority)
        tx["gas"] = int(w3.eth.estimate_gas({**tx, "from": address}) * 1.2)
        signed = Account.sign_transaction(tx, key.account.key)
        return PreparedTx(_hex(signed.hash), _hex(signed.raw_transaction), nonce)

    def _fund(self, address: str) -> None:
        w3 = self.w3
        if int(w3.eth.get_balance(address)) >= MIN_BALANCE_WEI:
            return
        faucet = w3.eth.accounts[0]
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": faucet, "to": address, "value": EMBEDDED_FUNDING_WEI}),
            timeout=self._timeout_s,
        )

    async def broadcast(self, raw: str) -> str:
        """Send a signed transaction; one the node already knows counts as sent."""
        await self.info()

        def send() -> str:
            try:
                return _hex(self.w3.eth.send_raw_transaction(raw))
            except Exception as exc:
                if "already known" in str(exc).lower():
                    return _hex(Web3.keccak(hexstr=raw))
                raise

        return await self._call(send, "send anchor")

    # --- reading it back ------------------------------------------------------------------

    async def transaction(self, tx_hash: str) -> AnchorTx | None:
        await self.info()

        def read() -> AnchorTx | None:
            try:
                tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
            receipt = self._receipt(tx_hash)
            data = tx.get("input") or b""
            return AnchorTx(
                tx_hash=_hex(tx["hash"]),
                sender=str(tx["from"]),
                to=str(tx["to"]) if tx.get("to") else None,
                data=bytes(data) if not isinstance(data, str) else bytes.fromhex(data[2:]),
                block_number=tx.get("blockNumber"),
                receipt=receipt,
            )

        return await self._call(read, "read anchor")

    def _receipt(self, tx_hash: str) -> Receipt | None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        if receipt is None or receipt.get("blockNumber") is None:
            return None
        return Receipt(
            tx_hash=_hex(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            block_hash=_hex(receipt["blockHash"]),
            status=int(receipt["status"]),
        )

    async def wait_receipt(self, tx_hash: str, timeout_s: float) -> Receipt:
        """Poll for the receipt until `timeout_s`; ChainError when it does not come."""
        await self.info()
        deadline = time.monotonic() + timeout_s
        polls = 0
        while True:
            receipt = await self._call(lambda: self._receipt(tx_hash), "read receipt")
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ChainError(f"no receipt for {tx_hash} within {timeout_s:g}s")
            polls += 1
            await asyncio.sleep(exponential(polls, base_s=POLL_S, cap_s=POLL_MAX_S))

    async def head(self) -> int:
        """The latest block number."""
        await self.info()
        return await self._call(lambda: int(self.w3.eth.block_number), "read head")

    async def wait_confirmations(self, block_number: int, wanted: int, timeout_s: float) -> int:
        """Wait until `block_number` has `wanted` confirmations (the embedded chain mines them)."""
        await self.info()
        deadline = time.monotonic() + timeout_s
        polls = 0
        while True:
            head = await self._call(lambda: int(self.w3.eth.block_number), "read head")
            have = head - block_number + 1
            if have >= wanted:
                return have
            if self.kind == "embedded":
                missing = wanted - have
                await self._call(functools.partial(self._mine, missing), "mine")
                continue
            if time.monotonic() >= deadline:
                raise ChainError(f"block {block_number} has {have}/{wanted} confirmations")
            polls += 1
            await asyncio.sleep(exponential(polls, base_s=POLL_S, cap_s=POLL_MAX_S))

    def _mine(self, blocks: int) -> None:
        tester = getattr(self.w3.provider, "ethereum_tester", None)
        if tester is None:
            raise ChainError("cannot mine on this chain")
        tester.mine_blocks(blocks)


def embedded_chain(health: HealthRegistry, timeout_s: float) -> AnchorChain:
    def make() -> Web3:
        from web3 import EthereumTesterProvider  # imports py-evm: only when first needed

        w3 = Web3(EthereumTesterProvider())
        pin_recursion_limit()  # py-evm raised it at import; see backend.core.untrusted
        return w3

    return AnchorChain(
        "embedded",
        make,
        target="embedded EthereumTester (in memory)",
        health=health,
        timeout_s=timeout_s,
    )


def rpc_chain(
    http: HttpClientFactory, health: HealthRegistry, url: str, timeout_s: float
) -> AnchorChain:
    """A chain over JSON-RPC; the health target shows scheme and host only (URLs carry keys)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    health.register(HEALTH_NAME, "chain", shown)
    client = http.provider(HEALTH_NAME, url, kind="chain", timeout_s=timeout_s, retries=1)
    loop = asyncio.get_running_loop()
    return AnchorChain(
        "rpc",
        lambda: Web3(FactoryRpcProvider(client, loop, timeout_s * 2 + 2)),
        target=shown,
        health=health,
        timeout_s=timeout_s * 3,
    )
