"""Calls whose 4xx answer is still read: Bitmart and the ndau node put the meaning of a refusal
(30005 bad signature, "sequence too low"...) in the JSON body of a 4xx response.

They go through the provider's shared client, breaker and retries (`accept_4xx`); JSON numbers
with a fraction are parsed as `Decimal`, never as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from backend.core.http import ProviderClient
from backend.core.untrusted import loads


@dataclass(frozen=True, slots=True)
class Answer:
    """A response that is not a transport failure: status, parsed JSON body and headers.

    An empty body reads as `body=None` with `empty` set: only `empty` tells it from a JSON
    `null`, which to the ndau node means "no such transaction".
    """

    status: int
    body: Any
    headers: httpx.Headers
    empty: bool


def loads_exact(raw: bytes | str) -> Any:
    """JSON with fractional numbers as Decimal, so no amount ever passes through a float; bounded
    like every untrusted document (backend.core.untrusted)."""
    return loads(raw, decimal=True, what="answer")


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
    empty = not response.content.strip()
    body = None if empty else provider.decode(response, decimal=True)
    return Answer(response.status_code, body, response.headers, empty)
