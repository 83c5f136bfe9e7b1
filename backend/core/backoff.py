"""The one exponential backoff schedule of the backend: the delay before the next try.

Our retry sites schedule the next attempt from a count of failures kept on their own state (a
miner, an issue, a notarization, a reconnect loop) rather than wrapping one call, so this is a
pure function of that count, not a retry decorator.
"""

from __future__ import annotations

import random
from typing import Literal, Protocol

Jitter = Literal["none", "full", "equal"]

# The largest power of two a float holds: doubling stops here, far past any cap, so a count
# in the millions neither overflows (2.0 ** 1024 raises) nor builds a huge integer.
MAX_DOUBLINGS = 1023


class Uniform(Protocol):
    def uniform(self, a: float, b: float, /) -> float: ...


def exponential(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    jitter: Jitter = "none",
    rng: Uniform = random,
) -> float:
    """Seconds to wait before try `attempt + 1`, after `attempt` failures in a row.

    `base_s` after the first failure, doubling after each further one, never above `cap_s`
    (an attempt below 1 counts as 1). `jitter` spreads clients that failed together:
    "full" draws from [0, d], "equal" from [d/2, d], "none" returns d itself.
    """
    delay = float(min(cap_s, base_s * 2.0 ** min(max(attempt, 1) - 1, MAX_DOUBLINGS)))
    if jitter == "full":
        return rng.uniform(0.0, delay)
    if jitter == "equal":
        return rng.uniform(delay / 2, delay)
    return delay
