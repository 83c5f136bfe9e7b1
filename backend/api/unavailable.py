"""One way for a route to say "no answer yet": a service's own unavailable error becomes 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backend.api.errors import ApiError
from hashinsight_contract.common import ErrorResponse

# The 503 a route documents when its service may have no value yet.
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "No value available yet (or the service disabled)"}
}


@contextmanager
def unavailable_as_503(*kinds: type[Exception]) -> Iterator[None]:
    """Answer 503 with the error's own words when the service raises one of `kinds` (no value
    fetched yet, provider down, feature disabled); every other error passes through."""
    try:
        yield
    except kinds as exc:
        raise ApiError(503, str(exc)) from None
