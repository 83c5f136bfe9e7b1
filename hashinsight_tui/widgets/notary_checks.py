"""How a notarization's verification is shown: as lines (CLI) or as a Rich table (console)."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from hashinsight_tui.client import (
    ApiError,
    ConnectionLost,
    HashInsightClient,
    Notarization,
    Verification,
)

if TYPE_CHECKING:
    from backend.settings import Settings

STEP_TITLES = {
    "pipeline": "Pipeline",
    "pin": "Content by CID",
    "hash": "Hash recomputed",
    "sign": "Signer recovered",
    "anchor": "Anchor on chain",
    "confirm": "Confirmations",
}
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def verdict(ok: bool | None) -> tuple[str, str]:
    """(mark, style) for a check outcome; None means it could not be checked."""
    if ok is True:
        return "PASS", "green"
    if ok is False:
        return "FAIL", "bold red"
    return "N/A ", "yellow"


def check_lines(result: Verification) -> list[str]:
    lines = [
        f"notarization {result.id}: "
        + ("VERIFIED" if result.ok else f"NOT VERIFIED (failed at {result.failed_step})")
    ]
    for check in result.checks:
        mark, _style = verdict(check.ok)
        lines.append(f"  [{mark}] {STEP_TITLES.get(check.step, check.step):<17} {check.detail}")
    return lines


def check_table(result: Verification) -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("mark", width=4, no_wrap=True)
    table.add_column("check", width=17, no_wrap=True)
    table.add_column("detail", ratio=1, overflow="fold")
    for check in result.checks:
        mark, style = verdict(check.ok)
        table.add_row(
            Text(mark, style=style), STEP_TITLES.get(check.step, check.step), check.detail
        )
    return table


def record_lines(item: Notarization) -> list[str]:
    return [
        f"  hash      {item.hash or '—'}",
        f"  signer    {item.signer or '—'}",
        f"  CID       {item.cid or '—'} ({item.pin_provider or 'not pinned'})",
        f"  tx        {item.tx_hash or '—'}",
        f"  block     {item.block_number if item.block_number is not None else '—'}"
        f" on chain {item.chain_id or '—'} ({item.chain or '—'})",
    ]


async def verify_and_print(client: HashInsightClient, notarization_id: int) -> int:
    try:
        item = await client.notarization(notarization_id)
        result = await client.verify_notarization(notarization_id)
    except ApiError as exc:
        print(f"hashinsight: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ConnectionLost as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return EXIT_ERROR
    lines = check_lines(result)
    print("\n".join([lines[0], *record_lines(item), *lines[1:]]))
    return EXIT_OK if result.ok else EXIT_FAILED


def verify_command(settings: Settings, notarization_id: int, url: str | None) -> int:
    """`hashinsight notary verify ID`: verify through the backend's API and print each check."""
    from hashinsight_tui.launcher import resolve_target

    target = resolve_target(settings, url)

    async def run() -> int:
        async with HashInsightClient(target.url, target.api_key, timeout_s=60.0) as client:
            return await verify_and_print(client, notarization_id)

    try:
        return asyncio.run(run())
    finally:
        if target.embedded is not None:
            target.embedded.stop()
