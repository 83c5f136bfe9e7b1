"""Logging set-up with a filter that scrubs secrets from every record, whatever its origin."""

from __future__ import annotations

import logging
import re
from pathlib import Path

_SECRET_PATTERNS = [
    (re.compile(r"hsk_([a-z0-9]{12})_[0-9a-f]{64}"), r"hsk_\1_…"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1…"),
    (
        re.compile(
            r"(?i)((?:api[_-]?key|secret|password|token|jwt|pepper)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
        ),
        r"\1…",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1…@"),
]


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(level: str, log_file: Path | None = None, to_stderr: bool = True) -> None:
    """Configure the root logger once. The console logs only to a file, never over the TUI."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hashinsight", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    if to_stderr:
        handlers.append(logging.StreamHandler())
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        handler._hashinsight = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "aiosqlite", "websockets", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
