"""Plain cgminer: control through its RPC write commands (``--api-allow W:`` must allow us)."""

from __future__ import annotations

from typing import Any

from backend.fleet.client import CgminerConnectionError
from backend.fleet.codec import (
    CODE_ACCESS_DENIED,
    CODE_INVALID_COMMAND,
    CgminerCommandError,
    CgminerError,
    section_rows,
)
from backend.fleet.drivers.base import (
    ACTIONS,
    Capability,
    Driver,
    MinerTarget,
    Outcome,
    rpc_pool,
    uptime_before,
    verify_pools,
    verify_reboot,
    wait_until,
)
from backend.fleet.normalize import Row, hashrate_ths, to_bool

POOL_RPC = frozenset({"switchpool", "enablepool", "disablepool", "removepool"})


class CgminerRpcDriver(Driver):
    name = "cgminer"
    label = "cgminer (RPC)"

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        caps = dict.fromkeys(ACTIONS, Capability(True))
        caps["work_mode"] = Capability(False, "plain cgminer has no work modes")
        return caps

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        unsupported = self.unsupported(target, action)
        if unsupported is not None:
            return unsupported
        client = target.client
        before: dict[str, Any] = {}
        try:
            if action == "restart":
                before = await uptime_before(client)
                await client.restart()
                return Outcome(
                    "succeeded", "restarting: the miner is offline for a while", None, before
                )
            if action in POOL_RPC:
                pool = await rpc_pool(client, params)
                if isinstance(pool, str):
                    return Outcome("refused", pool)
                before = {"url": pool.url, "user": pool.user} if pool is not None else {}
                number = params["pool"] if pool is None else pool.index
                status = await client.privileged(action, number)
            elif action == "addpool":
                before = {"url": params["url"], "user": params["user"]}
                status = await client.add_pool(params["url"], params["user"], params["password"])
            elif action in ("sleep", "wake"):
                status = await client.set_sleep(action == "sleep")
            else:  # fault_light: cgminer's ascidentify flashes the LED where the device can
                status = await client.privileged("ascidentify", 0)
        except CgminerCommandError as exc:
            return refusal(exc, action)
        except CgminerConnectionError as exc:
            return Outcome("failed", f"miner unreachable: {exc}")
        except CgminerError as exc:
            return Outcome("failed", str(exc))
        return Outcome("succeeded", status.msg or "ok", None, before)

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        if action in POOL_RPC or action == "addpool":
            return await verify_pools(self.context, target, action, params, outcome)
        if action in ("sleep", "wake"):
            return await verify_devices_sleeping(self, target, action == "sleep")
        return "sent, not verified: cgminer cannot report whether the LED is flashing"


async def verify_devices_sleeping(driver: Driver, target: MinerTarget, sleeping: bool) -> str:
    """Asleep: every device disabled or no hashrate in ``summary``; awake: hashing again."""

    async def check() -> str | None:
        devs = section_rows(await target.client.command("devs"), "DEVS")[:64]
        summary = section_rows(await target.client.command("summary"), "SUMMARY")[:1]
        rate = hashrate_ths(Row(summary[0]), "5s") if summary else None
        disabled = bool(devs) and all(to_bool(r.get("Enabled")) is False for r in devs)
        asleep = disabled or rate == 0.0
        if sleeping and asleep:
            return "verified: the miner stopped hashing"
        if not sleeping and not disabled and rate:
            return f"verified: hashing again ({rate:.1f} TH/s)"
        return None

    found = await wait_until(driver.context, check, within=None)
    word = "stop" if sleeping else "resume"
    return found or (
        f"sent, not verified: the miner did not {word} hashing within "
        f"{driver.context.verify_timeout_s:g}s"
    )


def refusal(exc: CgminerCommandError, action: str) -> Outcome:
    if exc.code == CODE_ACCESS_DENIED:
        return Outcome(
            "refused",
            "refused: access denied, the miner's API is read-only for this host "
            "(allow it with --api-allow W:<this host>)",
        )
    if exc.code == CODE_INVALID_COMMAND:
        return Outcome("refused", f"refused: {action} is not supported by this firmware")
    return Outcome("failed", f"the miner answered with an error: {exc}")
