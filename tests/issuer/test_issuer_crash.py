"""Exactly once, proven the hard way: a real issuer subprocess is SIGKILLed at every step of the
state machine and restarted, against the Bitmart and ndau simulators and a real signing service.

At the end the simulated chain must hold exactly one Issue per batch (issue row), each issue's
tx exactly once, and the issued total must equal the total of Bitmart sell trades.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.core.db import Database
from backend.issuer.crash import STEPS
from backend.issuer.models import IssueRow, IssueTradeRow
from backend.ndau.tx import ndau_to_napu
from backend.sim.bitmart import BitmartSimulator
from backend.sim.ndau_node import NdauNodeSimulator
from tests.helpers import free_port
from tests.issuer.issuer_harness import issuer_settings, start_signer

REPO = Path(__file__).resolve().parents[2]


class Zygote:
    """The crash_child process: forks one fresh issuer process per run and reports its exit."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.pid: int | None = None

    @classmethod
    async def start(cls, config: Path, log: Path) -> Zygote:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HASHINSIGHT_")}
        env["PYTHONPATH"] = str(REPO)
        with log.open("ab") as handle:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.issuer.crash_child",
                str(config),
                cwd=REPO,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=handle,
            )
        return cls(proc, log)

    async def _line(self, prefix: str, within_s: float) -> str:
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), within_s)).decode()
        assert line.startswith(prefix), f"zygote said {line!r}\n{self.tail()}"
        return line.split()[1]

    async def run(self, step: str | None) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"RUN {step or '-'}\n".encode())
        await self.proc.stdin.drain()
        self.pid = int(await self._line("PID", 30))
        return self.pid

    async def exit_code(self, within_s: float) -> int:
        return int(await self._line("EXIT", within_s))

    async def stop_issuer(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await self.exit_code(10)
            self.pid = None

    async def close(self) -> None:
        await self.stop_issuer()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def _db_rows(db: Database) -> tuple[list[IssueRow], list[IssueTradeRow]]:
    async with db.session() as session:
        issues = list(await session.scalars(select(IssueRow).order_by(IssueRow.id)))
        trades = list(await session.scalars(select(IssueTradeRow)))
    return issues, trades


def _add_batch(bitmart: BitmartSimulator, round_no: int) -> None:
    now = int(time.time() * 1000)
    # Odd sizes down to the napu, a buy that must be ignored, and an exact-ms tie.
    bitmart.add_trade(side="sell", size=f"{round_no}.12345678", at_ms=now)
    bitmart.add_trade(side="sell", size="0.00000001", at_ms=now)
    bitmart.add_trade(side="buy", size="99", at_ms=now)
    bitmart.add_trade(side="sell", size=f"{7 * round_no}.5", at_ms=now)


async def test_sigkill_at_every_step_issues_each_batch_exactly_once(tmp_path: Path) -> None:
    bitmart = BitmartSimulator()
    node = NdauNodeSimulator()
    await bitmart.start()
    await node.start()
    port = free_port()
    settings = issuer_settings(tmp_path, bitmart, node, issuer_poll_s=0.1)
    config = tmp_path / "child.json"
    overrides = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in settings.model_dump(mode="python").items()
        if k.startswith(("issuer_", "bitmart_", "ndau_", "http_"))
    }
    config.write_text(json.dumps({"home": str(tmp_path), "port": port, "settings": overrides}))
    signer = start_signer(node, tmp_path, [f"ws://127.0.0.1:{port}/api/v1/issuer/signer"])
    db = Database(settings.effective_database_url)
    zygote = await Zygote.start(config, tmp_path / "child.log")
    try:
        for round_no, step in enumerate(STEPS, start=1):
            _add_batch(bitmart, round_no)
            await zygote.run(step)
            try:
                code = await zygote.exit_code(20)
            except TimeoutError:
                await zygote.stop_issuer()
                pytest.fail(f"step {step} was never reached:\n{zygote.tail()}")
            zygote.pid = None
            assert code == -signal.SIGKILL, f"{step}: exit {code}\n{zygote.tail()}"

        # A clean run finishes whatever the crashes left half done.
        await zygote.run(None)
        deadline = time.monotonic() + 30
        sells = [t for t in bitmart.trades if t["side"] == "sell"]
        while True:
            issues, trades = await _db_rows(db)
            settled = all(i.state == "confirmed" for i in issues)
            if issues and settled and len(trades) == len(sells):
                break
            if time.monotonic() > deadline:
                states = Counter(i.state for i in issues)
                pytest.fail(
                    f"not settled: {states}, {len(trades)}/{len(sells)} trades\n{zygote.tail()}"
                )
            await asyncio.sleep(0.1)
    finally:
        await zygote.close()
        await signer.stop()
        await db.close()
        await bitmart.stop()
        await node.stop()
        bitmart.cleanup()

    chain = node.issue_txs()
    # Exactly one Issue on the chain per batch, and each batch's tx exactly once.
    assert len(chain) == len(issues)
    assert Counter(tx.tx_hash for tx in chain) == Counter(i.tx_hash for i in issues)
    assert all(v == 1 for v in Counter(tx.tx_hash for tx in chain).values())
    for issue in issues:
        on_chain = next(tx for tx in chain if tx.tx_hash == issue.tx_hash)
        assert on_chain.data["qty"] == issue.qty_napu
        assert on_chain.data["sequence"] == issue.sequence
        assert issue.block_height == on_chain.height
    # Issued total == Bitmart sales total, to the napu; every sale counted once.
    sales_napu = ndau_to_napu(bitmart.sales_total())
    assert sum(tx.data["qty"] for tx in chain) == sales_napu
    assert sum(i.qty_napu for i in issues) == sales_napu
    assert sorted(t.trade_id for t in trades) == sorted(
        t["tradeId"] for t in bitmart.trades if t["side"] == "sell"
    )
    assert node.total_issued == 2_919_000 * 10**8 + sales_napu
    # Sequences are consecutive: no sequence was burnt by a duplicate or a retry.
    sequences = sorted(i.sequence for i in issues if i.sequence is not None)
    assert sequences == list(range(4171, 4171 + len(issues)))
    assert bitmart.sales_total() > Decimal(0)
