"""What the demo's on-call queue holds: a night-shift key that may only ask.

Why: a demo whose Approvals screen is always empty does not show the second pair of eyes that
semi-automatic keys exist for. Once the demo fleet has been polled, a semi-automatic key (the
way a night-shift script would hold one) asks for two changes; they wait for an operator, who
approves or rejects them from the console exactly as on a real site.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("hashinsight.sim")

NIGHT_SHIFT = "night shift (demo)"
WAIT_FOR_FLEET_S = 120.0


async def queue_demo_approvals(auth: Any, fleet: Any) -> list[str]:
    """Create the night-shift key and leave two fleet commands pending; their ids."""
    _info, full_key = await auth.create_key(
        name=NIGHT_SHIFT, scopes=["read", "fleet:control"], mode="semi_auto"
    )
    key = await auth.verify(full_key)
    online = await _online_miners(fleet)
    # Only miners whose firmware takes the command (the others would be refused at once).
    restartable = [m for m in online if _supports(fleet, m, "restart")]
    switchable = [
        m for m in online if _supports(fleet, m, "switchpool") and m not in restartable[:1]
    ]
    if key is None or not restartable or not switchable:
        log.info("demo: no approvals queued (fleet not polled yet)")
        return []
    asks = (([restartable[0]], "restart", None), ([switchable[0]], "switchpool", {"pool": 1}))
    ids: list[str] = []
    for miners, command, params in asks:
        for result in await fleet.commands.request(miners, command, params, key=key, source="demo"):
            ids.append(result.command_id)
    log.info("demo: %d fleet commands wait for approval (screen 9)", len(ids))
    return ids


def _supports(fleet: Any, miner_id: str, command: str) -> bool:
    capability = fleet.commands.capabilities(miner_id).get(command)
    return capability is not None and capability.supported


async def _online_miners(fleet: Any) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_FLEET_S
    while loop.time() < deadline:
        online = sorted(
            miner_id
            for miner_id, state in fleet.poller.states.items()
            if (state.data or {}).get("status") == "online"
        )
        if len(online) >= 2:
            return online
        await asyncio.sleep(0.5)
    return []


async def run_demo_story(auth: Any, fleet: Any) -> None:
    """Background task of a demo backend: the story must never take the demo down."""
    try:
        await queue_demo_approvals(auth, fleet)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("demo: approvals not queued: %s", exc)
