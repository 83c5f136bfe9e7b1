"""`python -m tests.issuer.crash_child CONFIG.json`: issuer processes for the crash tests.

This process imports everything once, then for each `RUN <step|->` line on stdin forks a fresh
issuer process (so every run is a real, separate process that pays no import time), reports
`PID <pid>`, waits for it and reports `EXIT <code>` (negative: killed by that signal).

Each forked issuer runs the real issuer service (engine, lease, store, signer hub on a fixed
loopback port) against the simulators named in CONFIG.json until it dies. With a step given it
has HASHINSIGHT_ISSUER_CRASH_AT=<step> and SIGKILLs itself there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from backend.core.db import run_migrations
from backend.issuer.crash import ENV
from backend.settings import ensure_dirs, load_settings
from tests.helpers import isolated_env
from tests.issuer.issuer_harness import start_issuer


async def run_issuer(config: dict[str, Any]) -> None:
    settings = load_settings(isolated_env(Path(config["home"])), overrides=config["settings"])
    await start_issuer(
        settings, port=config["port"], env=dict(os.environ), full_api=False, schema="none"
    )
    await asyncio.Event().wait()


def main(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    # Migrate once here; every forked issuer then starts on an up-to-date schema.
    settings = load_settings(isolated_env(Path(config["home"])), overrides=config["settings"])
    ensure_dirs(settings)
    run_migrations(settings.effective_database_url)
    for line in sys.stdin:
        command, _, step = line.strip().partition(" ")
        if command != "RUN":
            continue
        pid = os.fork()
        if pid == 0:  # the issuer process
            if step and step != "-":
                os.environ[ENV] = step
            else:
                os.environ.pop(ENV, None)
            try:
                asyncio.run(run_issuer(config))
            finally:
                os._exit(1)
        print(f"PID {pid}", flush=True)
        _pid, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"EXIT {code}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(Path(sys.argv[1]))
