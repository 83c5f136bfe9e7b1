"""`hashinsight signer -c signer.toml`: run the signing service until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from backend.signer.client import SigningService
from backend.signer.config import SignerConfigError, load_signer_config

EXIT_USAGE = 2


def run(config_path: Path, *, log_level: str = "info") -> int:
    """Load the config (a clear one-line error and exit 2 when it is bad), then serve."""
    try:
        config = load_signer_config(config_path)
    except SignerConfigError as exc:
        print(f"hashinsight signer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    service = SigningService(config)
    print(
        f"signing service {config.name!r}: identity {service.identity_public}, "
        f"{len(service.keys)} signing key(s), dialing {', '.join(config.urls)}",
        file=sys.stderr,
        flush=True,
    )
    return asyncio.run(_serve(service))


async def _serve(service: SigningService) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, service.request_stop)
    await service.run()
    return 0
