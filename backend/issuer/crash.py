"""A crash hook for the exactly-once tests: `HASHINSIGHT_ISSUER_CRASH_AT=<step>` SIGKILLs the
issuer process the first time it reaches that step.

It is honoured only against simulators (both the Bitmart and the ndau node URL on loopback), so a
stray variable in a real deployment can never kill a real issuer; there it is logged and ignored.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from urllib.parse import urlsplit

log = logging.getLogger("hashinsight.issuer.crash")

ENV = "HASHINSIGHT_ISSUER_CRASH_AT"

# Every point at which the state machine has just done (or is about to do) something durable or
# external, in the order an issue passes them.
STEPS = (
    "trades_fetched",  # Bitmart answered; nothing written yet
    "detected_saved",  # issue + trades + cursor committed
    "approved_saved",  # approved (auto mode) committed
    "signing_saved",  # qty, sequence and hash committed; sign request not sent yet
    "signatures_received",  # signer answered; nothing written yet
    "signed_saved",  # signed tx committed; nothing sent to the node yet
    "submitted_saved",  # "submitted" committed; POST /tx/submit not sent yet
    "submit_sent",  # node accepted the tx; confirmation not written yet
    "confirmed_saved",  # confirmed committed
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class CrashHook:
    def __init__(self, step: str | None = None) -> None:
        self.step = step

    @classmethod
    def from_env(cls, env: Mapping[str, str], bitmart_url: str, ndau_node_url: str) -> CrashHook:
        step = env.get(ENV, "").strip()
        if not step:
            return cls(None)
        if step not in STEPS:
            log.warning("%s=%s is not a known step (%s); ignored", ENV, step, ", ".join(STEPS))
            return cls(None)
        hosts = {urlsplit(url).hostname for url in (bitmart_url, ndau_node_url)}
        if not hosts <= LOOPBACK:
            log.warning("%s is set but the issuer talks to real services; ignored", ENV)
            return cls(None)
        log.warning("crash hook armed: this process will SIGKILL itself at %s", step)
        return cls(step)

    def __call__(self, step: str) -> None:
        if self.step is not None and step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
