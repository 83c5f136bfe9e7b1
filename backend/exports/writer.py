"""Blocking writes of an export file (plain or gzip), run in a thread, never on the event loop."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import IO, Any


class FileWriter:
    """Blocking file writes, called from a thread only; `close` syncs the file to disk."""

    def __init__(self, path: Path, compress: bool) -> None:
        self.raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.out: IO[bytes] = (
            gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=6) if compress else self.raw
        )

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()


def csv_cell(value: Any) -> Any:
    """A CSV cell: nested values as compact JSON, None as empty."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "" if value is None else value
