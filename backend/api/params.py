"""Request parameters every router shares: bounds on ids, offsets and times, stated in the spec.

The shapes themselves live in `hashinsight_contract`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query

from backend.api.errors import ApiError
from hashinsight_contract.common import ErrorResponse

# --- Bounds shared by every router, so the OpenAPI spec states what is accepted -----------------
# Database ids are signed 64-bit integers on PostgreSQL and SQLite: anything larger can name no
# row, and the drivers raise OverflowError on it instead of finding nothing.
MAX_ID = 2**63 - 1
# Pages never start further in than any table will grow; keeps OFFSET within the drivers' range.
MAX_OFFSET = 10_000_000
# Identifiers we generate are short; operators' miner names are at most a host name long.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL)
TEXT_PATTERN = r"^[^\x00]*$"

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id (1 to 2^63-1)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]
ObjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
MinerId = Annotated[str, Path(min_length=1, max_length=255, pattern=ID_PATTERN)]

# Times: every accepted instant stays representable after any timezone conversion (datetime
# covers years 1-9999 only, and an offset of up to a day can push year 1 or 9999 out of it).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def aware_utc(value: datetime, name: str) -> datetime:
    """`value` in UTC, or a 422 if it has no timezone or lies outside 1970..9000."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ApiError(422, f"{name}: needs a timezone (e.g. a trailing Z)")
    try:
        moved = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(422, f"{name}: out of range") from None
    if not EARLIEST <= moved <= LATEST:
        raise ApiError(422, f"{name}: must lie between {EARLIEST.date()} and {LATEST.date()} (UTC)")
    return moved


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO-8601 time with timezone, in UTC (None stays None); 422 when it is not one."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"{name}: not an ISO-8601 time") from None
    return aware_utc(parsed, name)


def check_order(start: datetime | float | None, end: datetime | float | None) -> None:
    if start is not None and end is not None and start > end:  # type: ignore[operator]
        raise ApiError(422, "start must not be after end")


# Error answers a router may give besides its own; documented so the spec lists every status.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request (e.g. a non-JSON body)"},
    404: {"model": ErrorResponse, "description": "No such object (or not visible to this key)"},
    409: {"model": ErrorResponse, "description": "Conflict with the object's current state"},
    413: {"model": ErrorResponse, "description": "Request body over the size limit (1 MiB)"},
    422: {"model": ErrorResponse, "description": "Invalid parameters or body"},
    429: {"model": ErrorResponse, "description": "Rate limit reached (see Retry-After)"},
    503: {"model": ErrorResponse, "description": "The service behind this route is not running"},
}
