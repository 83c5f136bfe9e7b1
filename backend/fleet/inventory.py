"""Which miners exist: addresses from settings, labels from a CSV, and a discovery scan.

Addresses are written the way operators write them: ``10.0.1.23``, ``10.0.1.23:4029``,
``[fd00::7]:4028``, ``miner-a.lan`` or a CIDR range ``10.0.1.0/24`` (every host of it). A
miner's id is its configured name, else ``host:port``; ids are stable across restarts.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.miner_config import (
    DEFAULT_PORT,
    FleetTable,
    MinerEntry,
    parse_address,
    parse_port,
)
from backend.fleet.codec import CgminerError, CgminerProtocolError, parse_status

if TYPE_CHECKING:
    from backend.fleet.settings import FleetSettings as Settings

LABELS = ("site", "rack", "position")


@dataclass(frozen=True, slots=True)
class MinerSpec:
    """One miner to poll: where it is and how operators label it."""

    id: str
    host: str
    port: int = DEFAULT_PORT
    name: str | None = None
    site: str | None = None
    rack: str | None = None
    position: str | None = None
    web_port: int | None = None  # the miner's web interface (control), when not 80
    grpc_port: int | None = None  # Braiins OS's gRPC API, when not 50051

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def miner_id(host: str, port: int, name: str | None = None) -> str:
    return name.strip() if name and name.strip() else format_address(host, port)


def expand_entries(
    entries: Iterable[str | MinerEntry | dict[str, Any]],
    *,
    default_port: int = DEFAULT_PORT,
    site: str | None = None,
    web_port: int | None = None,
) -> Iterator[MinerSpec]:
    """Specs for configured entries (a named entry must stand for exactly one miner)."""
    for entry in entries:
        if isinstance(entry, str):
            for host, port in parse_address(entry, default_port):
                yield MinerSpec(
                    id=miner_id(host, port), host=host, port=port, site=site, web_port=web_port
                )
            continue
        if isinstance(entry, dict):  # model_copy(update=...) does not validate overrides
            entry = MinerEntry.model_validate(entry)
        targets = parse_address(entry.address, entry.port or default_port)
        if entry.name and len(targets) > 1:
            raise ValueError(f"miner {entry.name!r}: a named entry needs a single address")
        for host, port in targets:
            yield MinerSpec(
                id=miner_id(host, port, entry.name),
                host=host,
                port=port,
                name=entry.name,
                site=entry.site or site,
                rack=entry.rack,
                position=entry.position,
                web_port=entry.web_port or web_port,
                grpc_port=entry.grpc_port,
            )


def configured_miners(settings: Settings) -> list[MinerSpec]:
    """The miners settings name, in order, without duplicates (first mention wins)."""
    table: FleetTable = settings.fleet
    specs = [
        *expand_entries(settings.miners),
        *expand_entries(
            table.miners, default_port=table.port, site=table.site, web_port=table.web_port
        ),
    ]
    return dedupe(specs)


def dedupe(specs: Iterable[MinerSpec]) -> list[MinerSpec]:
    seen_ids: set[str] = set()
    seen_addresses: set[tuple[str, int]] = set()
    result: list[MinerSpec] = []
    for spec in specs:
        if spec.id in seen_ids or (spec.host, spec.port) in seen_addresses:
            continue
        seen_ids.add(spec.id)
        seen_addresses.add((spec.host, spec.port))
        result.append(spec)
    return result


def apply_labels(spec: MinerSpec, labels: dict[str, str | None]) -> MinerSpec:
    """Imported labels win over configured ones; an empty imported value keeps the config's."""
    changes = {key: value for key, value in labels.items() if key in LABELS and value}
    return replace(spec, **changes) if changes else spec


# --------------------------------------------------------------------------- CSV labels


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One CSV line: a miner (by id or address) and its labels."""

    line: int
    spec: MinerSpec


def read_label_csv(path: Path) -> list[LabelRow]:
    """Parse a labels CSV; the header names columns (any order, case-insensitive).

    Columns: ``address`` (or ``host`` [+ ``port``], or ``id``), ``site``, ``rack``,
    ``position``, optional ``name``. ValueError names the line of the first bad row and
    nothing is imported from a bad file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise ValueError(f"{path}: empty file (a header line is required)")
    columns = {name.strip().lower(): name for name in reader.fieldnames if name}
    if not {"address", "host", "id"} & set(columns):
        raise ValueError(f"{path}: the header needs an 'address', 'host' or 'id' column")
    rows: list[LabelRow] = []
    for record in reader:
        number = reader.line_num  # blank lines are skipped but still counted
        values = {key: (record.get(original) or "").strip() for key, original in columns.items()}
        if not any(values.values()):
            continue
        try:
            rows.append(LabelRow(number, _label_spec(values)))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return rows


def _label_spec(values: dict[str, str]) -> MinerSpec:
    address = values.get("address") or values.get("host") or values.get("id") or ""
    port = parse_port(values["port"], address) if values.get("port") else DEFAULT_PORT
    targets = parse_address(address, port)
    if len(targets) != 1:
        raise ValueError(f"{address!r}: one miner per line (ranges are not labels)")
    host, port = targets[0]
    labels = {key: values.get(key) or None for key in (*LABELS, "name")}
    for key, value in labels.items():
        if value is not None and len(value) > (120 if key == "name" else 64):
            raise ValueError(f"{key} {value[:20]!r}... is too long")
    return MinerSpec(
        id=miner_id(host, port, labels["name"]),
        host=host,
        port=port,
        name=labels["name"],
        site=labels["site"],
        rack=labels["rack"],
        position=labels["position"],
    )


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True, slots=True)
class ScanHit:
    """A host that answered the CGMiner API."""

    host: str
    port: int
    family: str
    model: str | None
    firmware: str | None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


@dataclass(frozen=True, slots=True)
class ScanReject:
    """A host that accepted the connection but did not answer as a miner (and why)."""

    host: str
    port: int
    reason: str

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


async def scan(
    targets: Sequence[str],
    *,
    port: int = DEFAULT_PORT,
    concurrency: int = 256,
    timeout_s: float = 1.0,
    rejects: list[ScanReject] | None = None,
) -> list[ScanHit]:
    """Probe every address of ``targets`` with ``version``; return the ones that answer.

    Bounded concurrency (a worker pool, not one task per address), one short connect and
    read timeout per address: a /16 costs about 65536 / concurrency x timeout at worst.
    Hosts that took the connection but gave no usable reply (garbage, silence, a reset) go
    to ``rejects`` with the reason, so the operator learns what sits on the port.
    """
    from backend.fleet.client import CgminerClient, CgminerConnectionError
    from backend.fleet.normalize import Replies, detect_family, detect_firmware, detect_model

    addresses = [pair for target in targets for pair in parse_address(target, port)]
    hits: list[ScanHit] = []
    queue = iter(addresses)

    async def probe(host: str, port_: int) -> ScanHit | ScanReject | None:
        client = CgminerClient(host, port_, connect_timeout=timeout_s, read_timeout=timeout_s)
        try:
            reply = await client.request("version")
            parse_status(reply)
        except CgminerConnectionError as exc:
            return None if exc.offline else ScanReject(host, port_, str(exc))
        except CgminerProtocolError as exc:
            return ScanReject(host, port_, f"malformed reply: {exc.reason}")
        except CgminerError as exc:
            return ScanReject(host, port_, str(exc))
        replies = Replies({"version": reply})
        family = detect_family(replies)
        return ScanHit(host, port_, family, detect_model(replies, family), detect_firmware(replies))

    async def worker() -> None:
        for host, port_ in queue:
            found = await probe(host, port_)
            if isinstance(found, ScanHit):
                hits.append(found)
            elif found is not None and rejects is not None:
                rejects.append(found)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(addresses))))))
    order = {pair: i for i, pair in enumerate(addresses)}
    hits.sort(key=lambda hit: order[(hit.host, hit.port)])
    if rejects is not None:
        rejects.sort(key=lambda reject: order.get((reject.host, reject.port), 0))
    return hits
