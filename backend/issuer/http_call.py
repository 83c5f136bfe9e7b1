"""Calls whose 4xx answer is still read: Bitmart and the ndau node put the meaning of a refusal
(30005 bad signature, "sequence too low"...) in the JSON body of a 4xx response.

They go through the provider's shared client, breaker and retries (`accept_4xx`); JSON numbers
with a fraction are parsed as `Decimal`, never as floats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from backend.core.http import ProviderClient, ProviderError


@dataclass(frozen=True, slots=True)
class Answer:
    """A response that is not a transport failure: status, parsed JSON body and headers."""

    status: int
    body: Any
    headers: httpx.Headers


def loads_exact(raw: bytes | str) -> Any:
    """JSON with fractional numbers as Decimal, so no amount ever passes through a float."""
    return json.loads(raw, parse_float=Decimal)


async def call(
    provider: ProviderClient,
    method: str,
    path: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    retries: int | None = None,
) -> Answer:
    """Call `provider`; return any 2xx-4xx answer with its JSON body, raise `ProviderError`
    for transport failures, 5xx after retries, 429 and bodies that are not JSON."""
    response = await provider.request(
        method, path, content=content, headers=headers, retries=retries, accept_4xx=True
    )
    try:
        body = loads_exact(response.content) if response.content.strip() else None
    except ValueError:
        reason = f"HTTP {response.status_code} answer is not valid JSON"
        provider.report_bad_payload(reason)
        raise ProviderError(provider.name, reason, response.status_code) from None
    return Answer(response.status_code, body, response.headers)
