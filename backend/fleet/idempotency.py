"""``Idempotency-Key`` for command requests: a request sent again runs at most once.

A restart asked over a connection that drops before the answer cannot be told apart from one
that never arrived; a client that sends it again with the same key (the IETF HTTPAPI draft
"The Idempotency-Key HTTP Header Field", as Stripe and others do it) gets the commands the
first request made, as they are now, instead of restarting the miners a second time. Keys are
per API key and kept for ``RETENTION``; the same key with another request is refused (422).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

RETENTION = timedelta(hours=24)
MAX_KEY_CHARS = 255
# Visible ASCII, no quotes or backslashes: a UUID, a ULID or any token a client generates.
_CHARS = rf"[\x21\x23-\x5b\x5d-\x7e]{{1,{MAX_KEY_CHARS}}}"
_KEY = re.compile(_CHARS)
# What the header may hold, for the spec: the key bare or in double quotes.
HEADER_PATTERN = rf'^({_CHARS}|"{_CHARS}")$'


class IdempotencyKeyError(ValueError):
    """A header value that is no usable key; the message says why (never the value)."""


def parse_key(header: str) -> str:
    """The key from the header: a bare token, or the draft's Structured Field string
    (``"8e03978e-…"``)."""
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.fullmatch(value):
        raise IdempotencyKeyError(
            f"Idempotency-Key must be 1-{MAX_KEY_CHARS} visible ASCII characters without "
            "quotes or backslashes (a UUID, for example), optionally in double quotes"
        )
    return value


@dataclass(frozen=True)
class Claim:
    """One request's key: who sent it, the key, and what was asked."""

    requester_key_id: str
    key: str
    fingerprint: str


def fingerprint(command: str, public_params: dict[str, Any], miner_ids: Sequence[str]) -> str:
    """What a request asks, as a digest (pool passwords are masked before this: a retry that
    changes only a password counts as the same request, and no password is hashed into a row)."""
    body = json.dumps(
        [command, public_params, list(miner_ids)], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()
