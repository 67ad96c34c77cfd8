"""The rig driver: polls each mining program of one machine and merges them into one snapshot.

``opts.params``::

    {"miners": [{"family": "xmrig", "port": 8080, "password": "token"},
                {"family": "trex", "port": 4067}],
     "host": true}          # also read this machine's CPU/GPU sensors (agent on the rig)

Each program keeps its own hashrate as a :class:`HashStream` (different algorithms are never
summed); the rig's top-level hashrate, algorithm and coin are those of the first program.
Boards, fans and pools of all programs are listed together, each board naming its software.
A program that cannot be read turns the rig to ``error`` with ``ERR_MINER_OFFLINE`` and the
others still report; only when none can be read does the poll fail.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import msgspec

from hashfleet.core.errors import BadRequest, DeviceError
from hashfleet.drivers.base import Driver, DriverOptions
from hashfleet.drivers.host.readings import HostReader
from hashfleet.model.snapshot import (
    STATUS_ERROR,
    STATUS_ONLINE,
    STATUS_SLEEPING,
    HashStream,
    MinerConfig,
    MinerStats,
    Snapshot,
)

ERR_MINER_OFFLINE = "ERR_MINER_OFFLINE"
MAX_MINERS = 8


class MinerSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One mining program of the rig: its family and how to reach it on the rig's address."""

    family: str
    port: int | None = None
    username: str | None = None
    password: str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class RigParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The rig's ``opts.params``."""

    miners: list[MinerSpec]
    host: bool = False


def _parse_params(params: dict[str, Any]) -> RigParams:
    try:
        parsed = msgspec.convert(params, RigParams)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"rig params: {exc}", code="ERR_THING_OPTS_INVALID") from exc
    if not 1 <= len(parsed.miners) <= MAX_MINERS:
        raise BadRequest(f"a rig runs 1 to {MAX_MINERS} miners", code="ERR_THING_OPTS_INVALID")
    if any(m.family == RigDriver.family for m in parsed.miners):
        raise BadRequest("a rig cannot contain a rig", code="ERR_THING_OPTS_INVALID")
    return parsed


class RigDriver:
    """Reads every mining program of a rig (and its host) into one :class:`Snapshot`."""

    family: ClassVar[str] = "rig"
    capabilities: ClassVar[frozenset[str]] = frozenset({"pause", "resume"})

    def __init__(self, opts: DriverOptions, host_reader: HostReader | None = None) -> None:
        """Build a driver per program at ``opts.address``; bad params are a bad request."""
        from hashfleet.drivers.registry import create_driver  # the registry imports us

        params = _parse_params(opts.params)
        self.opts = opts
        self.names: list[str] = []
        self.drivers: list[Driver] = []
        for spec in params.miners:
            sub = DriverOptions(family=spec.family, address=opts.address, port=spec.port,
                                timeout=opts.timeout, username=spec.username,
                                password=spec.password, params=spec.params)  # fmt: skip
            self.drivers.append(create_driver(sub))
            self.names.append(spec.family)
        self.host = (host_reader or HostReader(timeout=opts.timeout)) if params.host else None

    async def collect(self) -> Snapshot:
        """Poll every program (and the host) at once and merge what they report."""
        polls = [d.collect() for d in self.drivers]
        results = await asyncio.gather(*polls, return_exceptions=True)
        snaps: list[tuple[str, Snapshot]] = []
        failed: list[DeviceError] = []
        for name, result in zip(self.names, results, strict=True):
            if isinstance(result, DeviceError):
                failed.append(result)
            elif isinstance(result, BaseException):
                raise result  # a driver bug: the agent marks the thing ERR_DRIVER
            else:
                snaps.append((name, result))
        if not snaps:
            raise failed[0]
        snap = merge(snaps, failed_programs=len(failed))
        if self.host is not None:
            snap.stats.host = await self.host.read()
            gpu_temps = [g.temp_c for g in snap.stats.host.gpus if g.temp_c is not None]
            temps = [t for t in (snap.stats.temp_max, *gpu_temps) if t is not None]
            snap.stats.temp_max = max(temps) if temps else None
        return snap

    async def pause(self) -> None:
        """Pause every program that can be paused."""
        await self._each("pause")

    async def resume(self) -> None:
        """Resume every program that can be paused."""
        await self._each("resume")

    async def _each(self, method: str) -> None:
        able = [d for d in self.drivers if method in d.capabilities]
        if not able:
            raise DeviceError(f"no miner of this rig can {method}", code="ERR_ACTION_UNSUPPORTED")
        # Every program is asked even when one fails; then the first failure is reported.
        results = await asyncio.gather(
            *(getattr(d, method)() for d in able), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        """Close every program's driver."""
        for d in self.drivers:
            await d.close()


def merge(snaps: list[tuple[str, Snapshot]], failed_programs: int = 0) -> Snapshot:
    """One rig snapshot from its programs' snapshots (first = primary)."""
    first = snaps[0][1]
    stats = MinerStats(
        hashrate=first.stats.hashrate,
        hashrate_nominal=first.stats.hashrate_nominal,
        algorithm=first.stats.algorithm,
        coin=first.stats.coin,
    )
    powers: list[float] = []
    temps: list[float] = []
    uptimes: list[int] = []
    for name, snap in snaps:
        s = snap.stats
        software = snap.config.software or snap.config.make or name
        stats.streams += s.streams or [
            HashStream(software=software, algorithm=s.algorithm, coin=s.coin,
                       hashrate=s.hashrate, power_w=s.power_w)
        ]  # fmt: skip
        for board in s.hashboards:
            board.index = len(stats.hashboards)
            board.software = board.software or software
            stats.hashboards.append(board)
        for fan in s.fans:
            fan.index = len(stats.fans)
            stats.fans.append(fan)
        stats.pools += s.pools
        stats.errors += [e for e in s.errors if e not in stats.errors]
        if s.power_w is not None:
            powers.append(s.power_w)
        if s.temp_max is not None:
            temps.append(s.temp_max)
        if s.uptime_s is not None:
            uptimes.append(s.uptime_s)
    stats.power_w = round(sum(powers), 2) if powers else None
    stats.temp_max = max(temps) if temps else None
    stats.uptime_s = min(uptimes) if uptimes else None
    statuses = {snap.stats.status for _, snap in snaps}
    if failed_programs:
        stats.status = STATUS_ERROR
        stats.errors.append(ERR_MINER_OFFLINE)
    elif statuses == {STATUS_SLEEPING}:
        stats.status = STATUS_SLEEPING
    elif STATUS_ERROR in statuses:
        stats.status = STATUS_ERROR
    else:
        stats.status = STATUS_ONLINE
    software = " + ".join(st.software for st in stats.streams)
    config = MinerConfig(make="rig", model=software, software=software,
                         hostname=first.config.hostname, mac=first.config.mac)  # fmt: skip
    return Snapshot(stats=stats, config=config)
