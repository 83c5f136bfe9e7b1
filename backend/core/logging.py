"""Logging set-up with a filter that scrubs secrets from every record, whatever its origin."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

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


_TRACEBACKS = logging.Formatter()
_REDACTED = "_hashinsight_redacted"
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _scrub_arg(value: object) -> object:
    """One %-argument, scrubbed as text only when its text held a secret (keeps %d working)."""
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = str(value)
    cleaned = scrub(text)
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Scrub a record in place: message, %-arguments, traceback text and stack.

    Arguments stay separate when scrubbing them one by one is enough, because some formatters
    (uvicorn's access log) read `record.args` as a tuple; otherwise the message is frozen as
    scrubbed text. A traceback is rendered once, scrubbed, and kept as `exc_text` with
    `exc_info` cleared, so no handler can render the exception message again in clear.
    """
    if getattr(record, _REDACTED, False):
        return
    setattr(record, _REDACTED, True)
    try:
        message = record.getMessage()
    except Exception:  # a bad %-format: the handler reports it as usual
        return
    cleaned = scrub(message)
    if cleaned != message:
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _scrub_arg(arg) for key, arg in record.args.items()}
        try:
            retried = record.getMessage()
        except Exception:
            retried = message
        if scrub(retried) != retried:
            record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
        record.exc_text, record.exc_info = scrub(text), None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


class RedactingFilter(logging.Filter):
    """Handler filter: scrubs what reaches the handler (also covered by `install_redaction`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_redaction() -> None:
    """Scrub every record where it is made, whichever logger and handler it goes to.

    Handler filters only cover handlers we attach; uvicorn (and any library) may attach its own,
    or Python's last-resort handler may print a record. A record factory sees all of them before
    any handler does. Idempotent.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, _REDACTED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        return record

    setattr(factory, _REDACTED, True)
    logging.setLogRecordFactory(factory)


def route_uvicorn_logs(*, access_log: bool) -> None:
    """uvicorn's loggers without handlers of their own: their records reach ours (redacting,
    and never the terminal of a console), at warning level, access lines only if asked."""
    install_redaction()
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.WARNING)
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)


def setup_logging(level: str, log_file: Path | None = None, to_stderr: bool = True) -> None:
    """Configure the root logger once. The console logs only to a file, never over the TUI."""
    install_redaction()
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
