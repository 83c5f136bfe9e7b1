"""Braiins OS's public gRPC API (``braiins.bos.v1``) on a simulated BOSer miner.

A real grpc.aio server on the miner's own loopback address (real miners: port 50051; here
``FleetSimulator(braiins_grpc_port=...)``, 0 = a free port each), answering from the simulated
miner's state: hashrate per board, temperatures, fans, pools (one pool group), power and uptime.

``Login`` checks the password (factory: user root without a password) and hands out a session
token in the reply body and, like BOSer, in the ``authorization`` response header; every other
call needs that token in its ``authorization`` metadata (UNAUTHENTICATED otherwise). Writes
change the state: ``Reboot`` makes the miner go dark for the fleet's restart downtime (UNAVAILABLE
meanwhile), ``PauseMining``/``ResumeMining`` set it sleeping, ``SetLocateDeviceStatus`` the LED,
``SetPowerTarget`` the tuner's target, ``UpdatePoolGroup`` the pools. Methods named in
``BosState.unimplemented`` answer UNIMPLEMENTED like an older firmware; a miner with the HANG
fault never answers, SLOW answers late.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from backend.fleet.drivers.bos_api import bos_v1_pb2 as pb
from backend.fleet.drivers.bos_api import bos_v1_pb2_grpc as rpc

if TYPE_CHECKING:
    from backend.sim.miner.pools import SimPool
    from backend.sim.miner.server import SimMiner

MAX_MESSAGE = 1024 * 1024
SESSION_S = 3600  # BOSer: a token expires after an hour without use
MAX_TOKENS = 64
MAX_POOLS = 16
HANG_S = 120.0  # a hung miner holds the call this long unless the client gives up first
STATUS_STREAM_S = 30.0
BOS_VERSION = "2023-04-20-0-0ce150e9-23.03-plus"
BOS_MAJOR = "2022-09-13-0-11012d53-22.08-plus"
GROUP_NAME = "Default"


@dataclass(slots=True)
class BosState:
    """What BOSer keeps besides the miner's common state."""

    power_w: float  # the model's default power target
    username: str = "root"
    password: str = ""  # factory: root without a password
    tuner_enabled: bool = True
    power_target_w: int = 0
    unimplemented: set[str] = field(default_factory=set)  # method names, e.g. {"Reboot"}
    group_uid: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    logins: int = 0
    login_failures: int = 0
    calls: deque[str] = field(default_factory=lambda: deque(maxlen=64))  # writes carried out
    _uids: dict[int, tuple[SimPool, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.power_target_w:
            self.power_target_w = self.default_w

    @property
    def default_w(self) -> int:
        return round(self.power_w)

    @property
    def min_w(self) -> int:
        return round(self.power_w * 0.5)

    @property
    def max_w(self) -> int:
        return round(self.power_w * 1.25)

    def uid_of(self, pool: SimPool) -> str:
        """A stable uid per pool object (the miner's pools carry none)."""
        known = self._uids.get(id(pool))
        if known is not None and known[0] is pool:
            return known[1]
        uid = secrets.token_urlsafe(9)
        self._uids[id(pool)] = (pool, uid)
        return uid

    def forget_pools(self, keep: list[SimPool]) -> None:
        alive = {id(p) for p in keep}
        self._uids = {k: v for k, v in self._uids.items() if k in alive}


class BraiinsGrpcServer:
    """One miner's gRPC listener on its own address (start, stop, port like a side server)."""

    what = "Braiins OS gRPC API"

    def __init__(self, miner: SimMiner, host: str, port: int) -> None:
        self.miner = miner
        self.host = host
        self.port = port
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),  # two simulators on one address must collide
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ]
        )
        api = _Api(self.miner)
        rpc.add_AuthenticationServiceServicer_to_server(_Auth(api), server)
        rpc.add_ActionsServiceServicer_to_server(_Actions(api), server)
        rpc.add_PoolServiceServicer_to_server(_Pools(api), server)
        rpc.add_ConfigurationServiceServicer_to_server(_Configuration(api), server)
        rpc.add_PerformanceServiceServicer_to_server(_Performance(api), server)
        rpc.add_CoolingServiceServicer_to_server(_Cooling(api), server)
        rpc.add_MinerServiceServicer_to_server(_Miner(api), server)
        where = f"{self.host}:{self.port}"
        try:
            bound = server.add_insecure_port(where)
        except RuntimeError as exc:
            raise RuntimeError(f"cannot serve the {self.what} on {where}: {exc}") from exc
        if not bound:
            raise RuntimeError(f"cannot serve the {self.what} on {where}")
        await server.start()
        self._server, self.port = server, bound

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=None)


# ---------------------------------------------------------------------- shared gate


class _Api:
    """Checks every call goes through: the miner up, the fault, the method, the session."""

    def __init__(self, miner: SimMiner) -> None:
        self.miner = miner

    @property
    def state(self) -> BosState:
        state = self.miner.bos
        assert state is not None
        return state

    async def gate(self, context: Any, method: str, *, auth: bool = True) -> None:
        from backend.sim.miner.faults import Fault

        miner = self.miner
        if Fault.HANG in miner.faults:
            await asyncio.sleep(HANG_S)  # the client's deadline cancels us first
        elif Fault.SLOW in miner.faults:
            await asyncio.sleep(miner.faults[Fault.SLOW]["delay_s"])
        if miner.restarting or not miner.listening:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "miner is not running")
        if method in self.state.unimplemented:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        if auth and not self._session(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "authentication required")

    def _session(self, context: Any) -> bool:
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                token = value
        tokens = self.state.tokens
        now = time.monotonic()
        if not isinstance(token, str) or tokens.get(token, 0.0) < now:
            return False
        tokens[token] = now + SESSION_S  # use extends the session
        return True

    def wrote(self, method: str) -> None:
        self.state.calls.append(method)

    @contextmanager
    def rendering(self) -> Iterator[SimMiner]:
        """State is fixed while one reply renders, as for the RPC (no await inside)."""
        miner = self.miner
        miner._memo = {}
        try:
            miner.tick()
            yield miner
        finally:
            miner._memo = None


# ---------------------------------------------------------------------- services


class _Auth(rpc.AuthenticationServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        await self.api.gate(context, "Login", auth=False)
        state = self.api.state
        if request.username != state.username or request.password != state.password:
            state.login_failures += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid username or password")
        state.logins += 1
        if len(state.tokens) >= MAX_TOKENS:
            oldest = min(state.tokens, key=state.tokens.__getitem__)
            del state.tokens[oldest]
        token = secrets.token_urlsafe(12)
        state.tokens[token] = time.monotonic() + SESSION_S
        await context.send_initial_metadata((("authorization", token),))
        return pb.LoginResponse(token=token, timeout_s=SESSION_S)


class _Actions(rpc.ActionsServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def PauseMining(self, request: Any, context: Any) -> pb.PauseMiningResponse:
        await self.api.gate(context, "PauseMining")
        miner = self.api.miner
        already = miner.sleeping
        miner.tick()
        miner.sleeping = True
        self.api.wrote("PauseMining")
        return pb.PauseMiningResponse(already_paused=already)

    async def ResumeMining(self, request: Any, context: Any) -> pb.ResumeMiningResponse:
        await self.api.gate(context, "ResumeMining")
        miner = self.api.miner
        already = not miner.sleeping
        miner.tick()
        miner.sleeping = False
        self.api.wrote("ResumeMining")
        return pb.ResumeMiningResponse(already_mining=already)

    async def Reboot(self, request: Any, context: Any) -> pb.RebootResponse:
        await self.api.gate(context, "Reboot")
        miner = self.api.miner
        self.api.wrote("Reboot")
        self.api.state.tokens.clear()  # sessions do not survive a reboot
        miner._spawn(miner._restart())
        return pb.RebootResponse()

    async def SetLocateDeviceStatus(
        self, request: pb.SetLocateDeviceStatusRequest, context: Any
    ) -> pb.LocateDeviceStatusResponse:
        await self.api.gate(context, "SetLocateDeviceStatus")
        self.api.miner.blinking = bool(request.enable)
        self.api.wrote("SetLocateDeviceStatus")
        return pb.LocateDeviceStatusResponse(enabled=self.api.miner.blinking)

    async def GetLocateDeviceStatus(
        self, request: Any, context: Any
    ) -> pb.LocateDeviceStatusResponse:
        await self.api.gate(context, "GetLocateDeviceStatus")
        return pb.LocateDeviceStatusResponse(enabled=self.api.miner.blinking)


class _Pools(rpc.PoolServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def GetPoolGroups(self, request: Any, context: Any) -> pb.GetPoolGroupsResponse:
        await self.api.gate(context, "GetPoolGroups")
        with self.api.rendering() as miner:
            if not miner.pools:
                return pb.GetPoolGroupsResponse()
            state = self.api.state
            active = miner.active_pool()
            group = pb.PoolGroup(name=GROUP_NAME, uid=state.group_uid, quota=pb.Quota(value=1))
            for pool in sorted(miner.pools, key=lambda p: p.priority):
                item = group.pools.add(
                    uid=state.uid_of(pool),
                    url=pool.url,
                    user=pool.user,
                    enabled=pool.enabled,
                    alive=not pool.dead,
                    active=pool is active,
                )
                item.stats.SetInParent()
                item.stats.accepted_shares = int(pool.accepted)
                item.stats.rejected_shares = int(pool.rejected)
                item.stats.stale_shares = int(pool.stale)
                item.stats.last_difficulty = 524288 if pool is active else 0
            return pb.GetPoolGroupsResponse(pool_groups=[group])

    async def CreatePoolGroup(
        self, request: pb.CreatePoolGroupRequest, context: Any
    ) -> pb.CreatePoolGroupResponse:
        await self.api.gate(context, "CreatePoolGroup")
        if self.api.miner.pools:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "this miner keeps a single pool group"
            )
        await self._replace(request.group, context)
        self.api.wrote("CreatePoolGroup")
        return pb.CreatePoolGroupResponse(group=self._configuration())

    async def UpdatePoolGroup(
        self, request: pb.UpdatePoolGroupRequest, context: Any
    ) -> pb.UpdatePoolGroupResponse:
        await self.api.gate(context, "UpdatePoolGroup")
        if not request.group.HasField("uid") or request.group.uid != self.api.state.group_uid:
            await context.abort(grpc.StatusCode.NOT_FOUND, "pool group not found")
        await self._replace(request.group, context)
        self.api.wrote("UpdatePoolGroup")
        return pb.UpdatePoolGroupResponse(group=self._configuration())

    async def _replace(self, group: pb.PoolGroupConfiguration, context: Any) -> None:
        """The group's pools become the given list, in order; a known uid keeps its counters
        and, when no password is given, its password."""
        from backend.sim.miner.pools import SimPool

        if not group.pools or len(group.pools) > MAX_POOLS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"a pool group needs 1 to {MAX_POOLS} pools"
            )
        miner, state = self.api.miner, self.api.state
        by_uid = {state.uid_of(p): p for p in miner.pools}
        pools: list[SimPool] = []
        for rank, given in enumerate(group.pools):
            if "://" not in given.url or not given.user:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"pool {rank}: url and user are required"
                )
            known = by_uid.pop(given.uid, None) if given.HasField("uid") else None
            pool = known or SimPool(url=given.url, user=given.user, password="")
            pool.url, pool.user, pool.priority = given.url, given.user, rank
            if given.HasField("password"):
                pool.password = given.password
            pool.enabled = given.enabled if given.HasField("enabled") else True
            pools.append(pool)
        if not any(p.enabled for p in pools):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "a pool group needs an enabled pool"
            )
        miner.tick()
        miner.pools = pools
        state.forget_pools(pools)

    def _configuration(self) -> pb.PoolGroupConfiguration:
        return _group_configuration(self.api.miner, self.api.state)


class _Configuration(rpc.ConfigurationServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def GetMinerConfiguration(
        self, request: Any, context: Any
    ) -> pb.GetMinerConfigurationResponse:
        await self.api.gate(context, "GetMinerConfiguration")
        state = self.api.state
        groups = [_group_configuration(self.api.miner, state)] if self.api.miner.pools else []
        tuner = pb.TunerConfiguration(
            enabled=state.tuner_enabled,
            tuner_mode=pb.TUNER_MODE_POWER_TARGET,
            power_target=pb.Power(watt=state.power_target_w),
        )
        return pb.GetMinerConfigurationResponse(pool_groups=groups, tuner=tuner)

    async def GetConstraints(self, request: Any, context: Any) -> pb.GetConstraintsResponse:
        await self.api.gate(context, "GetConstraints")
        state = self.api.state
        power = pb.PowerConstraints(
            default=pb.Power(watt=state.default_w),
            min=pb.Power(watt=state.min_w),
            max=pb.Power(watt=state.max_w),
        )
        tuner = pb.TunerConstraints(power_target=power, default_mode=pb.TUNER_MODE_POWER_TARGET)
        return pb.GetConstraintsResponse(tuner_constraints=tuner)


class _Performance(rpc.PerformanceServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def GetTunerState(self, request: Any, context: Any) -> pb.GetTunerStateResponse:
        await self.api.gate(context, "GetTunerState")
        state = self.api.state
        if not state.tuner_enabled:
            return pb.GetTunerStateResponse(overall_tuner_state=pb.TUNER_STATE_DISABLED)
        mode = pb.PowerTargetModeState(current_target=pb.Power(watt=state.power_target_w))
        return pb.GetTunerStateResponse(
            overall_tuner_state=pb.TUNER_STATE_STABLE, power_target_mode_state=mode
        )

    async def SetPowerTarget(
        self, request: pb.SetPowerTargetRequest, context: Any
    ) -> pb.SetPowerTargetResponse:
        await self.api.gate(context, "SetPowerTarget")
        state = self.api.state
        if not state.tuner_enabled:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "tuner is disabled")
        watt = request.power_target.watt
        if not state.min_w <= watt <= state.max_w:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"power target must be between {state.min_w} and {state.max_w} W",
            )
        state.power_target_w = int(watt)
        self.api.wrote(f"SetPowerTarget {watt}")
        return pb.SetPowerTargetResponse(power_target=pb.Power(watt=state.power_target_w))

    async def GetActivePerformanceMode(self, request: Any, context: Any) -> pb.PerformanceMode:
        await self.api.gate(context, "GetActivePerformanceMode")
        target = pb.PowerTargetMode(power_target=pb.Power(watt=self.api.state.power_target_w))
        return pb.PerformanceMode(tuner_mode=pb.TunerPerformanceMode(power_target=target))


class _Cooling(rpc.CoolingServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def GetCoolingState(self, request: Any, context: Any) -> pb.GetCoolingStateResponse:
        await self.api.gate(context, "GetCoolingState")
        with self.api.rendering() as miner:
            fans = [
                pb.FanState(position=i, rpm=rpm, target_speed_ratio=0.42)
                for i, rpm in enumerate(miner.fan_speeds())
            ]
            hottest = max(miner.board_temps(b)[1] for b in range(miner.profile.boards))
            sensor = pb.TemperatureSensor(
                location=pb.SENSOR_LOCATION_CHIP, temperature=pb.Temperature(degree_c=hottest)
            )
            return pb.GetCoolingStateResponse(fans=fans, highest_temperature=sensor)


class _Miner(rpc.MinerServiceServicer):
    def __init__(self, api: _Api) -> None:
        self.api = api

    async def GetMinerStatus(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.GetMinerStatusResponse]:
        """A stream: the status now, then each change (for a while)."""
        await self.api.gate(context, "GetMinerStatus")
        last = _status(self.api.miner)
        yield pb.GetMinerStatusResponse(status=last)
        deadline = time.monotonic() + STATUS_STREAM_S
        while time.monotonic() < deadline and not self.api.miner.restarting:
            await asyncio.sleep(0.2)
            now = _status(self.api.miner)
            if now != last:
                last = now
                yield pb.GetMinerStatusResponse(status=now)

    async def GetMinerDetails(self, request: Any, context: Any) -> pb.GetMinerDetailsResponse:
        await self.api.gate(context, "GetMinerDetails")
        with self.api.rendering() as miner:
            mac = miner._mac()
            uptime = int(miner.uptime_s())
            model = miner.profile.model or "Antminer"
            return pb.GetMinerDetailsResponse(
                uid=f"sim{miner.index:013d}",
                miner_identity=pb.MinerIdentity(
                    brand=pb.MINER_BRAND_ANTMINER, name=model, miner_model=model
                ),
                bos_mode=pb.BOS_MODE_NAND,
                bos_version=pb.BosVersion(current=BOS_VERSION, major=BOS_MAJOR, bos_plus=True),
                hostname=f"bos-{mac.replace(':', '')[-6:].lower()}",
                mac_address=mac.lower(),
                sticker_hashrate=pb.GigaHashrate(
                    gigahash_per_second=miner.profile.nominal_ths * 1e3
                ),
                bosminer_uptime_s=uptime,
                system_uptime_s=uptime,
                status=_status(miner),
                kernel_version="4.9.113",
                serial_number=f"JYZZB{miner.index:011d}",
            )

    async def GetMinerStats(self, request: Any, context: Any) -> pb.GetMinerStatsResponse:
        await self.api.gate(context, "GetMinerStats")
        state = self.api.state
        with self.api.rendering() as miner:
            acc, rej, stale, _hw = miner.totals()
            ths = miner.current_ths()
            watts = miner.power_w()
            if ths > 0:  # the tuner holds consumption at the power target
                watts = round(watts * state.power_target_w / state.default_w)
            pool_stats = pb.PoolStats(accepted_shares=acc, rejected_shares=rej, stale_shares=stale)
            stats = _solver(miner.current_ths(), miner.avg_ths(), miner.profile.nominal_ths)
            efficiency = pb.PowerEfficiency(joule_per_terahash=watts / ths if ths else 0.0)
            power = pb.MinerPowerStats(
                approximated_consumption=pb.Power(watt=int(watts)), efficiency=efficiency
            )
            return pb.GetMinerStatsResponse(
                pool_stats=pool_stats, miner_stats=stats, power_stats=power
            )

    async def GetHashboards(self, request: Any, context: Any) -> pb.GetHashboardsResponse:
        await self.api.gate(context, "GetHashboards")
        with self.api.rendering() as miner:
            boards = []
            nominal = miner.profile.nominal_ths / miner.profile.boards
            for b in range(miner.profile.boards):
                board_c, chip_c = miner.board_temps(b)
                rate = miner.board_ths(b)
                boards.append(
                    pb.Hashboard(
                        id=str(b + 1),
                        enabled=True,
                        chips_count={"value": miner.chips_ok(b)},
                        highest_chip_temp=pb.TemperatureSensor(
                            location=pb.SENSOR_LOCATION_CHIP,
                            temperature=pb.Temperature(degree_c=chip_c),
                        ),
                        board_temp=pb.Temperature(degree_c=board_c),
                        stats=_solver(rate, rate, nominal),
                        model="BHB42601",
                        serial_number=f"SIMHB{miner.index:08d}{b}",
                    )
                )
            return pb.GetHashboardsResponse(hashboards=boards)


# ---------------------------------------------------------------------- rendering


def _status(miner: SimMiner) -> int:
    return pb.MINER_STATUS_PAUSED if miner.sleeping else pb.MINER_STATUS_NORMAL


def _solver(now_ths: float, avg_ths: float, nominal_ths: float) -> pb.WorkSolverStats:
    def giga(ths: float) -> pb.GigaHashrate:
        return pb.GigaHashrate(gigahash_per_second=round(ths * 1e3, 3))

    real = pb.RealHashrate(
        last_5s=giga(now_ths),
        last_15s=giga(now_ths),
        last_30s=giga(avg_ths),
        last_1m=giga(avg_ths),
        last_5m=giga(avg_ths),
        last_15m=giga(avg_ths),
        last_30m=giga(avg_ths),
        last_1h=giga(avg_ths),
        last_24h=giga(avg_ths),
        since_restart=giga(avg_ths),
    )
    return pb.WorkSolverStats(real_hashrate=real, nominal_hashrate=giga(nominal_ths))


def _group_configuration(miner: SimMiner, state: BosState) -> pb.PoolGroupConfiguration:
    """The pool group as BOSer's configuration shows it, pool passwords included."""
    group = pb.PoolGroupConfiguration(uid=state.group_uid, name=GROUP_NAME, quota=pb.Quota(value=1))
    for pool in sorted(miner.pools, key=lambda p: p.priority):
        group.pools.add(
            uid=state.uid_of(pool),
            url=pool.url,
            user=pool.user,
            password=pool.password,
            enabled=pool.enabled,
        )
    return group
