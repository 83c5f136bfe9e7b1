"""Shared fixtures of the console tests that replay the recorded world."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.snapshot_world import load_recording

Answers = dict[str, dict[str, Any]]


@pytest.fixture
def answers() -> Iterator[Answers]:
    """The recorded answers, with the wall clock stopped at the recording and TZ=UTC."""
    captured_at, recorded = load_recording()
    real_time, old_tz = time.time, os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    time.time = lambda: captured_at  # type: ignore[assignment]
    try:
        yield recorded
    finally:
        time.time = real_time  # type: ignore[assignment]
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
