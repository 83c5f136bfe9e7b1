"""The notarized report: a snapshot of what the backend knows about a period, as plain JSON.

Each service may contribute a section by implementing :class:`ReportSource` (an async
``notary_section(start, end)`` returning JSON-able data): the fleet (totals per miner and site,
energy, efficiency, uptime), the market and chain services (prices, hashprice) and the issuer
(ndau issued). A section that no running service provides, or whose service fails or is too slow,
is recorded as ``{"available": false, "reason": ...}``: a report never invents numbers. The audit
trail of the period is always included (rows up to a cap, plus a Keccak-256 digest over all of
them), so a notarization also proves the audit log was not rewritten afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select

from backend.core.audit import AuditEntry
from backend.core.db import Database
from backend.notary.canonical import MAX_SAFE_INTEGER, canonical_json
from backend.notary.keccak import keccak_hex

log = logging.getLogger("hashinsight.notary")

# /2: audit entries leave out `source` (the client address), which /1 carried.
SCHEMA = "hashinsight.notary.report/2"
SECTION_TIMEOUT_S = 15.0
# Sections the report is meant to carry, and what each holds; services provide them by name.
EXPECTED_SECTIONS: dict[str, str] = {
    "fleet": "totals per miner and site, energy, efficiency and uptime",
    "market": "BTC prices over the period",
    "chain": "network difficulty, hashrate and hashprice over the period",
    "issuer": "ndau issued in the period",
}
METHOD_NOTE = (
    "hash = keccak256(canonical JSON of this document, RFC 8785); signature = EIP-191 "
    "personal_sign(hash) by notary.signer; anchor = a transaction whose data is the hash"
)


@runtime_checkable
class ReportSource(Protocol):
    """A service that contributes one section (keyed by its service name) to the report."""

    async def notary_section(self, start: datetime, end: datetime) -> Mapping[str, Any]: ...


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a `Z`, to the microsecond: one spelling for every timestamp."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Plain JSON values that canonical JSON accepts (never guesses: unknown types are text)."""
    if value is None or isinstance(value, bool | str | Decimal):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    return str(value)


async def build_report(
    *,
    db: Database,
    services: Mapping[str, object],
    notarization_id: int,
    trigger: str,
    period_start: datetime,
    period_end: datetime,
    generated_at: datetime,
    signer: str,
    audit_rows_max: int,
) -> dict[str, Any]:
    """The report document for one notarization (plain JSON values, not yet canonical)."""
    sections = await _sections(services, period_start, period_end)
    audit = await audit_section(db, period_start, period_end, audit_rows_max)
    return {
        "schema": SCHEMA,
        "notarization_id": notarization_id,
        "trigger": trigger,
        "generated_at": iso(generated_at),
        "period": {"start": iso(period_start), "end": iso(period_end)},
        "notary": {"signer": signer, "method": METHOD_NOTE},
        "sections": sections,
        "audit": audit,
    }


async def _sections(
    services: Mapping[str, object], start: datetime, end: datetime
) -> dict[str, Any]:
    sources = {
        name: service for name, service in services.items() if isinstance(service, ReportSource)
    }
    names = sorted(set(EXPECTED_SECTIONS) | set(sources))
    results = await asyncio.gather(
        *(_section(name, sources.get(name), start, end) for name in names)
    )
    return dict(zip(names, results, strict=True))


async def _section(
    name: str, source: ReportSource | None, start: datetime, end: datetime
) -> dict[str, Any]:
    if source is None:
        what = EXPECTED_SECTIONS.get(name, name)
        return {"available": False, "reason": f"no running service provides {name} ({what})"}
    try:
        data = await asyncio.wait_for(source.notary_section(start, end), SECTION_TIMEOUT_S)
    except TimeoutError:
        return {"available": False, "reason": f"{name} did not answer in {SECTION_TIMEOUT_S:g}s"}
    except Exception as exc:  # one failing section must not sink the report
        log.warning("notary: section %s failed: %s", name, type(exc).__name__)
        return {"available": False, "reason": f"{name} failed: {type(exc).__name__}"}
    return {"available": True, "data": jsonable(dict(data))}


async def audit_section(
    db: Database, start: datetime, end: datetime, rows_max: int
) -> dict[str, Any]:
    """Every audit row in [start, end): by action, capped rows, and a digest over all of them."""
    window = (AuditEntry.at >= start, AuditEntry.at < end)
    async with db.session() as session:
        by_action = {
            action: count
            for action, count in await session.execute(
                select(AuditEntry.action, func.count()).where(*window).group_by(AuditEntry.action)
            )
        }
        rows = list(
            await session.scalars(select(AuditEntry).where(*window).order_by(AuditEntry.id))
        )
    entries = [jsonable(_public(row.to_dict())) for row in rows]
    digest = await asyncio.to_thread(lambda: keccak_hex(canonical_json(entries)))
    return {
        "count": len(entries),
        "first_id": entries[0]["id"] if entries else None,
        "last_id": entries[-1]["id"] if entries else None,
        "by_action": dict(sorted(by_action.items())),
        "entries_keccak256": digest,
        "entries_truncated": len(entries) > rows_max,
        "entries": entries[:rows_max],
    }


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit row as a report may show it: without `source`, the client's IP address (a
    wallet's sign-in, a partner's call). A report is read with any `read` key and may be
    pinned on public IPFS, while the addresses are the operators' alone (the login log needs
    `admin`, the `wallet.login` event leaves them out)."""
    return {key: value for key, value in entry.items() if key != "source"}
