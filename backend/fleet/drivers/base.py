"""The driver interface: what a firmware family can do, doing it, and reading the effect back.

A driver never sends an action it does not list as supported: the command path asks
``capabilities`` first and refuses with the reason. ``run`` sends and answers in an operator's
words; ``verify`` reads back what changed (the active pool and its account, the work mode, the
miner back with a younger uptime after a reboot) and says ``verified: ...`` or ``sent, not
verified: <why>``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, get_args

from backend.fleet.client import CgminerClient, CgminerConnectionError
from backend.fleet.codec import CgminerError, section_rows
from backend.fleet.credentials import Credential, default_credential
from backend.fleet.normalize import to_bool, to_float, to_int
from hashinsight_contract.fleet import Action

if TYPE_CHECKING:
    import httpx

    from backend.fleet.credentials import CredentialStore

ACTIONS: tuple[str, ...] = get_args(Action)
# The work modes firmwares with a power switch name alike (sleep has its own command); LuxOS
# takes its tuning profiles' names instead.
COMMON_WORK_MODES = ("normal", "low_power")
REFUSAL_MEMORY_S = 300.0  # a wrong password is not tried again for this long


@dataclass(frozen=True, slots=True)
class Capability:
    supported: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return (
            {"supported": True} if self.supported else {"supported": False, "reason": self.reason}
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """``state``: succeeded | refused | failed; ``verification`` is set after ``verify``."""

    state: str
    result: str
    verification: str | None = None
    before: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(slots=True)
class MinerTarget:
    """One miner as the drivers see it: where, what firmware, and its RPC client."""

    miner_id: str
    host: str
    port: int
    client: CgminerClient
    site: str | None = None
    family: str | None = None
    firmware: str | None = None
    model: str | None = None
    web_port: int | None = None  # from the inventory; a stored credential's port wins
    grpc_port: int | None = None  # the same for Braiins OS's gRPC API

    @property
    def label(self) -> str:
        return self.miner_id


@dataclass(slots=True)
class ControlContext:
    """What drivers share: credentials, the HTTP client, deadlines and remembered refusals."""

    credentials: CredentialStore | None = None
    http: httpx.AsyncClient | None = None
    web_timeout_s: float = 5.0
    verify_timeout_s: float = 8.0
    verify_interval_s: float = 0.5
    refusals: dict[tuple[str, str, str], float] = field(default_factory=dict)

    async def credential(self, target: MinerTarget, kind: str) -> Credential:
        if self.credentials is None:
            return default_credential(kind)
        return await self.credentials.resolve(target.miner_id, target.site, kind)

    def refused_recently(self, target: MinerTarget, cred: Credential) -> bool:
        key = (target.miner_id, cred.kind, cred.fingerprint)
        until = self.refusals.get(key)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self.refusals[key]
            return False
        return True

    def remember_refusal(self, target: MinerTarget, cred: Credential) -> None:
        if len(self.refusals) > 100_000:  # bounded: drop the expired ones first
            now = time.monotonic()
            self.refusals = {k: v for k, v in self.refusals.items() if v > now}
        self.refusals[(target.miner_id, cred.kind, cred.fingerprint)] = (
            time.monotonic() + REFUSAL_MEMORY_S
        )


class DriverError(Exception):
    """A control call that gave no usable answer; ``state`` is how the command ends
    (``refused``, ``failed``, ``timeout``) and ``message`` says why in an operator's words.

    ``received``: the miner had the whole request and then showed it (began answering, or
    closed the connection on it). For a reboot that is the effect; a silence is not, since a
    hung miner is silent too."""

    def __init__(self, state: str, message: str, *, received: bool = False) -> None:
        super().__init__(message)
        self.state = state
        self.message = message
        self.received = received

    def outcome(self) -> Outcome:
        """The command's end: a timeout is a failure, said as the miner not answering."""
        if self.state == "timeout":
            return Outcome("failed", f"miner did not answer: {self.message}")
        return Outcome(self.state, self.message)


class Driver:
    """Base of every family's driver; subclasses fill ``supported`` and ``run``."""

    name = "base"
    label = "unknown firmware"

    def __init__(self, context: ControlContext) -> None:
        self.context = context

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        return dict.fromkeys(ACTIONS, Capability(False, f"not supported for {self.label}"))

    kind: str | None = None  # the credential kind its control path needs, if any
    # The `params.mode` values `work_mode` takes, checked before anything is sent (empty: the
    # driver checks the mode against what the miner itself lists).
    work_modes: tuple[str, ...] = ()

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        refusal = self.unsupported(target, action)
        return refusal if refusal is not None else Outcome("refused", "refused: not supported")

    def unsupported(self, target: MinerTarget, action: str) -> Outcome | None:
        """The refusal for an action this firmware does not offer, or None."""
        capability = self.capabilities(target).get(action)
        if capability is not None and capability.supported:
            return None
        reason = capability.reason if capability is not None else None
        return Outcome("refused", f"refused: {reason or action + ' is not supported'}")

    async def admit(
        self, target: MinerTarget, action: str, params: dict[str, Any]
    ) -> Credential | Outcome:
        """The credential to act with, or why nothing is sent: the action is unsupported, the
        stored credential cannot be read, the miner refused this one a moment ago, or the work
        mode asked for is not one of ``work_modes``."""
        refusal = self.unsupported(target, action)
        if refusal is not None:
            return refusal
        cred = await self.context.credential(target, self.kind or "")
        if cred.error is not None:
            return Outcome("refused", f"refused: {cred.error}")
        if self.context.refused_recently(target, cred):
            return Outcome("refused", wrong_credentials(target, cred))
        if action == "work_mode" and self.work_modes:
            refusal = unknown_work_mode(self.label, params.get("mode"), self.work_modes)
            if refusal is not None:
                return refusal
        return cred

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        return "sent, not verified: this firmware offers no way to read the effect back"


def wrong_credentials(target: MinerTarget, cred: Credential) -> str:
    what = "factory default " if cred.is_default else ""
    return (
        f"refused: wrong credentials for {target.label} ({cred.kind}, {what}user "
        f"{cred.username or '-'} from {cred.source}); not tried again for "
        f"{int(REFUSAL_MEMORY_S // 60)} min unless the credentials change "
        "(hashinsight fleet credentials set)"
    )


def unknown_work_mode(label: str, mode: object, known: Sequence[str]) -> Outcome | None:
    """The refusal, sent before anything reaches the miner, for a ``work_mode`` this firmware
    does not have (``params.mode`` also carries LuxOS profile names); None when it has it."""
    if isinstance(mode, str) and mode in known:
        return None
    return Outcome(
        "refused", f"refused: {label} has no work mode {mode!r}; its modes: {', '.join(known)}"
    )


# ---------------------------------------------------------------------- read-back over RPC


@dataclass(frozen=True, slots=True)
class PoolView:
    index: int
    url: str
    user: str
    status: str
    priority: int | None
    active: bool


def same_pool(url: str, user: str, want_url: str, want_user: str | None) -> bool:
    """One pool is a URL and an account: hosting sites move miners between customers'
    accounts on the same pool, so a wanted user must match too (no user: any account)."""
    return url == want_url and (not want_user or user == want_user)


def find_pool(pools: Sequence[tuple[str, str | None]], params: Mapping[str, Any]) -> int | str:
    """Where the pool a command names is in ``pools`` (url, user), in the order the driver
    indexes them: by ``params`` url and user when the request named the pool (a retry or a
    stale list then still means the same pool), else ``params["pool"]``. A refusal when absent."""
    url = params.get("url")
    if url is None:
        index = int(params["pool"])
        if index < len(pools):
            return index
        return f"refused: pool {index} does not exist (the miner has {len(pools)} pools, 0 = first)"
    user = params.get("user")
    for position, (have_url, have_user) in enumerate(pools):
        if same_pool(have_url, have_user or "", url, user):
            return position
    return f"refused: pool {pool_name(url, user)} is not on the miner (any more)"


def pool_name(url: str | None, user: str | None) -> str:
    """A pool in messages, with its account when known."""
    return f"{url} (user {user})" if user else str(url)


async def read_pools(client: CgminerClient) -> list[PoolView]:
    """The miner's pools as its RPC ``pools`` reports them (bounded, validated rows)."""
    reply = await client.command("pools")
    rows = section_rows(reply, "POOLS")[:64]
    pools: list[PoolView] = []
    for position, row in enumerate(rows):
        url = str(row.get("URL") or "")[:255]
        index = to_int(row.get("POOL"))
        pools.append(
            PoolView(
                index=index if index is not None else position,
                url=url,
                user=str(row.get("User") or "")[:255],
                status=str(row.get("Status") or "").lower()[:32],
                priority=to_int(row.get("Priority")),
                active=bool(to_bool(row.get("Stratum Active"))),
            )
        )
    if pools and not any(p.active for p in pools):  # no Stratum Active: the first usable one
        usable = [p for p in pools if p.status == "alive" and p.priority is not None]
        if usable:
            best = min(usable, key=lambda p: p.priority or 0)
            pools = [replace(p, active=p is best) for p in pools]
    return pools


async def read_uptime(client: CgminerClient) -> int | None:
    reply = await client.command("summary")
    rows = section_rows(reply, "SUMMARY")
    if not rows:
        return None
    value = to_float(rows[0].get("Elapsed"))
    return int(value) if value is not None and 0 <= value < 1e10 else None


async def wait_until(
    context: ControlContext, check: Callable[[], Awaitable[str | None]], *, within: float | None
) -> str | None:
    """Call ``check`` until it returns a text (the evidence) or the deadline passes."""
    deadline = time.monotonic() + (context.verify_timeout_s if within is None else within)
    while True:
        try:
            found = await check()
        except CgminerError:
            found = None
        if found is not None:
            return found
        if time.monotonic() + context.verify_interval_s > deadline:
            return None
        await asyncio.sleep(context.verify_interval_s)


async def uptime_before(client: CgminerClient) -> dict[str, Any]:
    """The uptime before a reboot, so a reset can be told from a miner that never went down."""
    try:
        return {"uptime_s": await read_uptime(client)}
    except CgminerError:
        return {}


async def verify_reboot(context: ControlContext, target: MinerTarget, outcome: Outcome) -> str:
    """Verified when the miner answers again with an uptime younger than the restart: smaller
    than just before it or, when it did not answer then, shorter than the time since. Going
    dark alone is said, never verified: a hung miner is dark too, and one that never comes
    back did not reboot as asked."""
    before = outcome.before.get("uptime_s")
    start = time.monotonic()
    seen = {"answered": False, "dark": False}  # ever answered; dark at the last read

    async def check() -> str | None:
        try:
            now = await read_uptime(target.client)
        except CgminerConnectionError:
            seen["dark"] = True
            return None
        seen.update(answered=True, dark=False)
        if now is None:
            return None
        if before is not None and now < before:
            return f"verified: uptime reset ({before}s -> {now}s)"
        if before is None and now <= time.monotonic() - start:
            return f"verified: the miner is back up, booted {now}s ago (after the restart)"
        return None

    found = await wait_until(context, check, within=None)
    if found is not None:
        return found
    within = f"{context.verify_timeout_s:g}s"
    if not seen["dark"]:
        return f"sent, not verified: the miner kept answering without an uptime reset for {within}"
    if before is None and not seen["answered"]:
        return (
            f"sent, not verified: the miner's RPC answered neither before the restart nor "
            f"within {within} after it"
        )
    return f"sent, not verified: the miner went dark and was not seen back within {within}"


async def verify_pools(
    context: ControlContext,
    target: MinerTarget,
    action: str,
    params: dict[str, Any],
    outcome: Outcome,
    *,
    note: str = "",
) -> str:
    """Read ``pools`` back until the change shows (the switched-to pool active, ...); a pool is
    its URL and, when known, its user (``same_pool``)."""
    url = outcome.before.get("url") or params.get("url")
    user = outcome.before.get("user") or params.get("user")
    name = pool_name(url, user)

    def matches(pools: list[PoolView]) -> str | None:
        mine = [p for p in pools if url and same_pool(p.url, p.user, url, user)]
        if action == "switchpool":
            active = [p for p in pools if p.active]
            if mine and active and same_pool(active[0].url, active[0].user, url, user):
                return f"verified: pool {name} is the active pool"
            if mine and not active and mine[0].priority == 0:
                return f"verified: pool {name} is first in priority"
            return None
        if action == "addpool":
            return f"verified: pool {name} is listed" if mine else None
        if action == "removepool":
            return None if mine else f"verified: pool {name} is no longer listed"
        if action == "enablepool":
            ok = mine and mine[0].status != "disabled"
            return f"verified: pool {name} is enabled" if ok else None
        if action == "disablepool":
            ok = mine and mine[0].status == "disabled"
            return f"verified: pool {name} is disabled" if ok else None
        return None

    if not url:
        return "sent, not verified: the pool's URL was not known before the change"
    last: list[str] = []

    async def check() -> str | None:
        pools = await read_pools(target.client)
        last[:] = [pool_name(p.url, p.user) for p in pools if p.active]
        return matches(pools)

    found = await wait_until(context, check, within=None)
    if found is not None:
        return found
    active = f"; active pool: {last[0]}" if last else ""
    return (
        f"sent, not verified: the miner's pools did not show the change within "
        f"{context.verify_timeout_s:g}s{active}{note}"
    )


async def pool_at(client: CgminerClient, index: int) -> PoolView | None:
    """Pool ``index`` before a change (the index shifts after a removal), to read it back by."""
    try:
        pools = await read_pools(client)
    except CgminerError:
        return None
    for pool in pools:
        if pool.index == index:
            return pool
    return pools[index] if 0 <= index < len(pools) else None


async def rpc_pool(client: CgminerClient, params: Mapping[str, Any]) -> PoolView | str | None:
    """The pool an RPC pool command acts on, with its ``POOL`` number: the one named by url
    and user (a refusal when the miner lacks it), else pool ``params["pool"]`` (None when
    unreadable: the command then goes by its number alone)."""
    if params.get("url") is None:
        return await pool_at(client, int(params["pool"]))
    pools = await read_pools(client)
    found = find_pool([(p.url, p.user) for p in pools], params)
    return found if isinstance(found, str) else pools[found]
