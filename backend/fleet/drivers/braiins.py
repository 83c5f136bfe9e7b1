"""Braiins OS / BOS+: control through BOSer's public gRPC API (``braiins.bos.v1``, port 50051).

Each operation opens one channel (plain HTTP/2, replies bounded to ``MAX_MESSAGE``), logs in with
``AuthenticationService.Login`` (credential kind ``braiins``; factory: root without a password)
and sends the session token as ``authorization`` metadata; every call has the context's deadline.
The port is the stored credential's, else the inventory's ``grpc_port``, else 50051.

Actions: ``Reboot``, ``PauseMining``/``ResumeMining``, ``SetLocateDeviceStatus`` (the locate
LED), ``SetPowerTarget`` for the work mode (normal: the model's default power target, low power:
``LOW_POWER_SHARE`` of it within the firmware's limits) and ``UpdatePoolGroup`` for pool changes
(the group as ``GetMinerConfiguration`` reports it, one pool changed; a pool keeps its uid and
whatever password the firmware reported). Effects are read back through the same API (status
stream, locate status, tuner state, pool groups with each pool's user); a reboot by the RPC's
uptime.

Errors in an operator's words: a refused login is ``wrong credentials`` and not tried again for a
while; UNAVAILABLE or a deadline is an unreachable miner; UNIMPLEMENTED, or a port that does not
speak HTTP/2, means the firmware does not offer this API (another firmware or an older BOS).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from backend.fleet.credentials import Credential
from backend.fleet.drivers.base import (
    ACTIONS,
    COMMON_WORK_MODES,
    Capability,
    Driver,
    DriverError,
    MinerTarget,
    Outcome,
    find_pool,
    pool_name,
    same_pool,
    uptime_before,
    verify_reboot,
    wait_until,
    wrong_credentials,
)
from backend.fleet.drivers.bos_api import bos_v1_pb2 as pb
from backend.fleet.drivers.bos_api import bos_v1_pb2_grpc as rpc

DEFAULT_PORT = 50051
MAX_MESSAGE = 1024 * 1024  # real replies are a few KiB
LOW_POWER_SHARE = 0.75  # low power: this share of the default power target
MAX_POOLS = 64
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")  # printable ASCII: a valid metadata value
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.enable_retries", 0),  # a write is sent once; the operator decides to retry
    ("grpc.primary_user_agent", "hashinsight"),
)
REFUSED_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.ABORTED,
    }
)
POOL_ACTIONS = frozenset({"switchpool", "addpool", "removepool", "enablepool", "disablepool"})
Reply = TypeVar("Reply")


class BosError(DriverError):
    """A gRPC call that gave no usable answer."""


@dataclass(slots=True)
class _Session:
    """One channel and session token to one miner."""

    channel: grpc.aio.Channel
    where: str
    timeout_s: float
    metadata: tuple[tuple[str, str], ...] = ()

    async def call(self, method: Callable[..., Awaitable[Reply]], request: Any, what: str) -> Reply:
        try:
            return await method(request, timeout=self.timeout_s, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc, what, self.where, self.timeout_s) from None


class BraiinsDriver(Driver):
    name = "braiins"
    label = "Braiins OS (gRPC API)"
    kind = "braiins"
    work_modes = COMMON_WORK_MODES

    def capabilities(self, target: MinerTarget) -> dict[str, Capability]:
        return dict.fromkeys(ACTIONS, Capability(True))

    # ------------------------------------------------------------------ transport

    def _port(self, target: MinerTarget, cred: Credential) -> int:
        return cred.port or target.grpc_port or DEFAULT_PORT

    @asynccontextmanager
    async def _session(self, target: MinerTarget, cred: Credential) -> AsyncIterator[_Session]:
        """A logged-in session; a refused login is remembered and reported as such."""
        port = self._port(target, cred)
        host = f"[{target.host}]" if ":" in target.host else target.host
        where = f"{host}:{port}"
        channel = grpc.aio.insecure_channel(where, options=CHANNEL_OPTIONS)
        try:
            session = _Session(channel, where, self.context.web_timeout_s)
            login = pb.LoginRequest(username=cred.username or "root", password=cred.password or "")
            call = rpc.AuthenticationServiceStub(channel).Login(
                login, timeout=self.context.web_timeout_s
            )
            try:
                reply = await call
                header = dict(await call.initial_metadata() or ()).get("authorization")
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                ):
                    self.context.remember_refusal(target, cred)
                    raise BosError("refused", wrong_credentials(target, cred)) from None
                raise _error(exc, "Login", where, self.context.web_timeout_s) from None
            token = reply.token or (header if isinstance(header, str) else "")
            if not _TOKEN.fullmatch(token):
                raise BosError(
                    "failed", f"unexpected reply from {where}: Login gave no usable session token"
                )
            session.metadata = (("authorization", token),)
            yield session
        finally:
            await channel.close()

    # ------------------------------------------------------------------ actions

    async def run(self, target: MinerTarget, action: str, params: dict[str, Any]) -> Outcome:
        cred = await self.admit(target, action, params)
        if isinstance(cred, Outcome):
            return cred
        try:
            before: dict[str, Any] = {}
            if action == "restart":
                before = await uptime_before(target.client)
            async with self._session(target, cred) as session:
                result = await self._send(session, action, params, before)
        except BosError as exc:
            return exc.outcome()
        return Outcome("succeeded", result, None, before)

    async def _send(
        self, session: _Session, action: str, params: dict[str, Any], before: dict[str, Any]
    ) -> str:
        actions = rpc.ActionsServiceStub(session.channel)
        if action == "restart":
            try:
                await session.call(actions.Reboot, pb.RebootRequest(), "Reboot")
            except BosError as exc:
                if "miner unreachable" not in exc.message:
                    raise
                return "reboot sent (the miner dropped the connection)"
            return "rebooting: the miner is offline for a while"
        if action == "sleep":
            paused = await session.call(actions.PauseMining, pb.PauseMiningRequest(), "PauseMining")
            return "mining paused" + (" (it was already paused)" if paused.already_paused else "")
        if action == "wake":
            resumed = await session.call(
                actions.ResumeMining, pb.ResumeMiningRequest(), "ResumeMining"
            )
            return "mining resumed" + (" (it was already mining)" if resumed.already_mining else "")
        if action == "fault_light":
            on = bool(params.get("on", True))
            request = pb.SetLocateDeviceStatusRequest(enable=on)
            led = await session.call(
                actions.SetLocateDeviceStatus, request, "SetLocateDeviceStatus"
            )
            said = "blinking" if led.enabled else "off"
            return f"locate LED {said}" + ("" if led.enabled == on else " (the miner kept it)")
        if action == "work_mode":
            return await self._power_target(session, params["mode"], before)
        return await self._pools(session, action, params, before)

    async def _power_target(self, session: _Session, mode: str, before: dict[str, Any]) -> str:
        configuration = rpc.ConfigurationServiceStub(session.channel)
        limits = await session.call(
            configuration.GetConstraints, pb.GetConstraintsRequest(), "GetConstraints"
        )
        power = limits.tuner_constraints.power_target
        default, low, high = power.default.watt, power.min.watt, power.max.watt
        if not 0 < default < 100_000 or not low <= default <= (high or default):
            raise BosError(
                "failed", "unexpected reply: GetConstraints gave no usable default power target"
            )
        watts = default
        if mode == "low_power":
            watts = max(low, round(default * LOW_POWER_SHARE))
        request = pb.SetPowerTargetRequest(
            save_action=pb.SAVE_ACTION_SAVE_AND_APPLY, power_target=pb.Power(watt=watts)
        )
        performance = rpc.PerformanceServiceStub(session.channel)
        reply = await session.call(performance.SetPowerTarget, request, "SetPowerTarget")
        before.update(mode=mode, watts=int(reply.power_target.watt or watts))
        return f"work mode {mode}: power target {before['watts']} W"

    async def _pools(
        self, session: _Session, action: str, params: dict[str, Any], before: dict[str, Any]
    ) -> str:
        configuration = rpc.ConfigurationServiceStub(session.channel)
        config = await session.call(
            configuration.GetMinerConfiguration,
            pb.GetMinerConfigurationRequest(),
            "GetMinerConfiguration",
        )
        groups = list(config.pool_groups)[:MAX_POOLS]
        pools = rpc.PoolServiceStub(session.channel)
        if action == "addpool":
            new = pb.PoolConfiguration(
                url=params["url"], user=params["user"], password=params["password"], enabled=True
            )
            before.update(url=params["url"], user=params["user"])
            if not groups:
                group = pb.PoolGroupConfiguration(name="Default", quota=pb.Quota(value=1))
                group.pools.append(new)
                create = pb.CreatePoolGroupRequest(
                    save_action=pb.SAVE_ACTION_SAVE_AND_APPLY, group=group
                )
                await session.call(pools.CreatePoolGroup, create, "CreatePoolGroup")
                return f"added pool {params['url']} (in a new pool group)"
            group = _editable(groups[0])
            group.pools.append(new)
            await self._update(session, group)
            return f"added pool {params['url']}"
        found = _locate(groups, params)
        if isinstance(found, str):
            raise BosError("refused", found)
        group_index, pool_index = found
        group = _editable(groups[group_index])
        pool = group.pools[pool_index]
        before.update(url=pool.url, user=pool.user)
        note = (
            f" (in pool group {group.name!r}; BOS balances between {len(groups)} groups)"
            if len(groups) > 1
            else ""
        )
        enabled_others = [p for i, p in enumerate(group.pools) if i != pool_index and _enabled(p)]
        if action == "switchpool":
            moved = group.pools.pop(pool_index)
            group.pools.insert(0, moved)
            if not _enabled(moved):
                moved.enabled = True
            words = f"switching to pool {moved.url}"
        elif action == "removepool":
            if len(group.pools) == 1 or not enabled_others:
                raise BosError(
                    "refused", "refused: cannot remove the last usable pool of its pool group"
                )
            del group.pools[pool_index]
            words = f"removed pool {pool.url}"
        elif action == "enablepool":
            pool.enabled = True
            words = f"enabled pool {pool.url}"
        else:
            if not enabled_others:
                raise BosError(
                    "refused", "refused: cannot disable the only enabled pool of its pool group"
                )
            pool.enabled = False
            words = f"disabled pool {pool.url}"
        await self._update(session, group)
        return words + note

    async def _update(self, session: _Session, group: pb.PoolGroupConfiguration) -> None:
        if not group.HasField("uid") or not group.uid:
            raise BosError(
                "refused",
                "refused: the miner's pool group has no uid (an older Braiins OS); change its "
                "pools in the miner's web interface",
            )
        request = pb.UpdatePoolGroupRequest(save_action=pb.SAVE_ACTION_SAVE_AND_APPLY, group=group)
        pools = rpc.PoolServiceStub(session.channel)
        await session.call(pools.UpdatePoolGroup, request, "UpdatePoolGroup")

    # ------------------------------------------------------------------ read-back

    async def verify(
        self, target: MinerTarget, action: str, params: dict[str, Any], outcome: Outcome
    ) -> str:
        if action == "restart":
            return await verify_reboot(self.context, target, outcome)
        cred = await self.context.credential(target, self.kind)
        check = self._check(action, params, outcome)
        last: list[str] = []
        try:
            async with self._session(target, cred) as session:

                async def guarded() -> str | None:
                    try:
                        found, seen = await check(session)
                    except BosError as exc:
                        last[:] = [exc.message]
                        return None
                    last[:] = [seen] if seen else []
                    return found

                found = await wait_until(self.context, guarded, within=None)
        except BosError as exc:
            return f"sent, not verified: {exc.message}"
        if found is not None:
            return found
        seen = f"; {last[0]}" if last else ""
        return (
            f"sent, not verified: the miner did not show the change within "
            f"{self.context.verify_timeout_s:g}s{seen}"
        )

    def _check(
        self, action: str, params: dict[str, Any], outcome: Outcome
    ) -> Callable[[_Session], Awaitable[tuple[str | None, str]]]:
        """One read-back: (the evidence or None, what was seen)."""
        if action in ("sleep", "wake"):
            wanted = pb.MINER_STATUS_PAUSED if action == "sleep" else pb.MINER_STATUS_NORMAL

            async def status(session: _Session) -> tuple[str | None, str]:
                now = await _miner_status(session)
                name = pb.MinerStatus.Name(now) if now in pb.MinerStatus.values() else str(now)
                if now == wanted:
                    return f"verified: miner status is {name}", name
                return None, f"miner status {name}"

            return status
        if action == "fault_light":
            on = bool(params.get("on", True))

            async def led(session: _Session) -> tuple[str | None, str]:
                actions = rpc.ActionsServiceStub(session.channel)
                reply = await session.call(
                    actions.GetLocateDeviceStatus,
                    pb.GetLocateDeviceStatusRequest(),
                    "GetLocateDeviceStatus",
                )
                if reply.enabled == on:
                    return f"verified: the locate LED is {'blinking' if on else 'off'}", ""
                return None, "the locate LED did not change"

            return led
        if action == "work_mode":
            wanted_w = outcome.before.get("watts")

            async def tuner(session: _Session) -> tuple[str | None, str]:
                performance = rpc.PerformanceServiceStub(session.channel)
                reply = await session.call(
                    performance.GetTunerState, pb.GetTunerStateRequest(), "GetTunerState"
                )
                if not reply.HasField("power_target_mode_state"):
                    return None, "the tuner is not in power target mode"
                current = reply.power_target_mode_state.current_target.watt
                if current == wanted_w:
                    return f"verified: power target is {current} W", ""
                return None, f"power target {current} W"

            return tuner
        url, user = outcome.before.get("url"), outcome.before.get("user")

        async def groups(session: _Session) -> tuple[str | None, str]:
            views = await _pool_views(session)
            active = [pool_name(v.url, v.user) for v in views if v.active]
            seen = f"active pool: {active[0]}" if active else ""
            return _pool_evidence(action, url, user, views), seen

        return groups


# ---------------------------------------------------------------------- pools, status and errors


@dataclass(frozen=True, slots=True)
class _PoolView:
    url: str
    user: str
    enabled: bool
    active: bool
    first: bool  # first in its group's priority order


async def _miner_status(session: _Session) -> int:
    """The first message of the GetMinerStatus stream (the status now)."""
    miner = rpc.MinerServiceStub(session.channel)
    stream = miner.GetMinerStatus(
        pb.GetMinerStatusRequest(), timeout=session.timeout_s, metadata=session.metadata
    )
    try:
        reply = await stream.read()
    except grpc.aio.AioRpcError as exc:
        raise _error(exc, "GetMinerStatus", session.where, session.timeout_s) from None
    finally:
        stream.cancel()
    if reply is grpc.aio.EOF:
        raise BosError("failed", "unexpected reply: GetMinerStatus ended without a status")
    return int(reply.status)


async def _pool_views(session: _Session) -> list[_PoolView]:
    pools = rpc.PoolServiceStub(session.channel)
    reply = await session.call(pools.GetPoolGroups, pb.GetPoolGroupsRequest(), "GetPoolGroups")
    views: list[_PoolView] = []
    for group in list(reply.pool_groups)[:MAX_POOLS]:
        for position, pool in enumerate(list(group.pools)[:MAX_POOLS]):
            views.append(
                _PoolView(pool.url[:255], pool.user[:255], pool.enabled, pool.active, position == 0)
            )
    return views


def _pool_evidence(
    action: str, url: str | None, user: str | None, views: list[_PoolView]
) -> str | None:
    """The evidence the change shows; a pool is its URL and account (``same_pool``)."""
    if not url:
        return None
    name = pool_name(url, user)
    mine = [v for v in views if same_pool(v.url, v.user, url, user)]
    if action == "switchpool":
        if mine and mine[0].active:
            return f"verified: pool {name} is the active pool"
        if mine and mine[0].first and mine[0].enabled and not any(v.active for v in views):
            return f"verified: pool {name} is first in priority"
        return None
    if action == "addpool":
        return f"verified: pool {name} is listed" if mine else None
    if action == "removepool":
        return None if mine else f"verified: pool {name} is no longer listed"
    if action == "enablepool":
        return f"verified: pool {name} is enabled" if mine and mine[0].enabled else None
    if action == "disablepool":
        return f"verified: pool {name} is disabled" if mine and not mine[0].enabled else None
    return None


def _editable(group: pb.PoolGroupConfiguration) -> pb.PoolGroupConfiguration:
    copy = pb.PoolGroupConfiguration()
    copy.CopyFrom(group)
    return copy


def _enabled(pool: pb.PoolConfiguration) -> bool:
    return pool.enabled if pool.HasField("enabled") else True


def _locate(
    groups: list[pb.PoolGroupConfiguration], params: dict[str, Any]
) -> tuple[int, int] | str:
    """(group, pool) of the pool ``params`` names, counted across the groups in order (by url
    and user when given, see ``find_pool``), or a refusal."""
    places = [
        (g, p) for g, group in enumerate(groups) for p in range(min(len(group.pools), MAX_POOLS))
    ]
    found = find_pool(
        [(groups[g].pools[p].url, groups[g].pools[p].user) for g, p in places], params
    )
    return found if isinstance(found, str) else places[found]


def _error(exc: grpc.aio.AioRpcError, what: str, where: str, timeout_s: float) -> BosError:
    """A failed call in an operator's words (never with the session token)."""
    code = exc.code()
    details = _CONTROL.sub(" ", str(exc.details() or ""))[:200].strip()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return BosError(
            "failed", f"miner did not answer: no reply from {where} within {timeout_s:g}s (timeout)"
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        if "HTTP/2" in details or "http1" in details.lower():
            return BosError(
                "failed",
                f"unexpected reply: {where} does not speak gRPC; the firmware does not offer "
                "Braiins OS's gRPC API there (another firmware, or the wrong port)",
            )
        if "refused" in details.lower():
            return BosError(
                "failed",
                f"miner unreachable: {where} refused the connection (is the gRPC API on "
                f"this port? Braiins OS: {DEFAULT_PORT})",
            )
        return BosError("failed", f"miner unreachable: {where}: {details or 'unavailable'}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return BosError(
            "refused",
            f"refused: the firmware does not offer {what} (UNIMPLEMENTED: not Braiins OS's gRPC "
            "API, or an older Braiins OS)",
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return BosError(
            "refused", f"refused: the miner did not accept our session for {what} ({details})"
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return BosError("refused", f"refused: the miner denied {what} ({details})")
    if code in REFUSED_CODES:
        return BosError("refused", f"refused: the miner rejected {what} ({details})")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return BosError("failed", f"unexpected reply to {what} from {where}: {details}")
    return BosError("failed", f"unexpected reply to {what}: {code.name} {details}".rstrip())
