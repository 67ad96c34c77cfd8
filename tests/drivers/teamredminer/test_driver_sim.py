"""TeamRedMinerDriver against simulated TeamRedMiner rigs on loopback (127.96.3.x): joined
and single-command polls, transport and content faults, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.teamredminer.driver import TeamRedMinerDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.teamredminer import (
    FAMILY,
    RESTART_DOWNTIME,
    TeamRedMinerHost,
    TeamRedMinerSim,
)

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def serving(*sims: TeamRedMinerSim) -> AsyncIterator[TeamRedMinerHost]:
    host = TeamRedMinerHost()
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield host
    finally:
        await asyncio.wait_for(host.close(), WAIT)


def driver(sim: TeamRedMinerSim, timeout: float = 3.0) -> TeamRedMinerDriver:
    return TeamRedMinerDriver(parse_options({**sim.thing_opts(), "timeout": timeout}))


async def collect(drv: TeamRedMinerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_joined_poll_and_single_command_fallback() -> None:
    new = TeamRedMinerSim("127.96.3.1", seed=2)
    old = TeamRedMinerSim("127.96.3.2", seed=3, version="0.8.7", algo="kawpow")
    async with serving(new, old):
        d1, d2 = driver(new), driver(old)
        a, b = await collect(d1), await collect(d2)
        b2 = await collect(d2)
        await d1.close()
    assert d1.joined and not d2.joined  # 0.8 refused the join once; singles since
    assert a.stats.status == "online" and a.stats.errors == []
    assert a.config.firmware == "0.10.21" and b.config.firmware == "0.8.7"
    assert len(a.stats.hashboards) == len(new.rig.cards)
    assert all(h.kind == "gpu" and h.temp_mem and h.power_w for h in a.stats.hashboards)
    assert (b.stats.algorithm, b.stats.coin) == ("kawpow", "RVN")
    assert b2.stats.hashrate is not None and b2.stats.hashrate > 50e6


async def test_refuse_hang_garbage() -> None:
    sim = TeamRedMinerSim("127.96.3.3", seed=4)
    async with serving(sim):
        drv = driver(sim, timeout=1.0)
        await collect(drv)
        sim.set_fault("refuse")
        with pytest.raises(DeviceOffline):
            await collect(drv)
        sim.set_fault("hang")
        with pytest.raises(DeviceTimeout):
            await collect(drv)
        sim.set_fault("garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(drv)
        sim.set_fault("none")
        assert (await collect(drv)).stats.errors == []


async def test_content_faults() -> None:
    clock = FakeClock()
    sims = [TeamRedMinerSim(f"127.96.3.{10 + i}", seed=i, clock=clock) for i in range(3)]
    async with serving(*sims):
        for sim, fault in zip(sims, ("overheat", "dead_board", "pool_down"), strict=True):
            sim.set_fault(fault)
        clock.t += 30
        hot, dead, down = [(await collect(driver(s))).stats for s in sims]
        clock.t += 600
        later = (await collect(driver(sims[2]))).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max is not None and hot.temp_max > 90
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert dead.hashboards[-1].hashrate == 0.0 and dead.hashboards[-1].ok is False
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert down.pools[0].alive is False
    assert later.pools[0].accepted == down.pools[0].accepted


async def test_reboot_restarts_the_miner() -> None:
    clock = FakeClock()
    sim = TeamRedMinerSim("127.96.3.20", seed=6, clock=clock)
    async with serving(sim):
        drv = driver(sim, timeout=1.0)
        before = (await collect(drv)).stats
        await asyncio.wait_for(drv.reboot(), WAIT)
        assert sim.reboots == 1
        with pytest.raises(DeviceOffline):
            await collect(drv)
        clock.t += RESTART_DOWNTIME + 90
        after = (await collect(drv)).stats
    assert before.uptime_s is not None and before.uptime_s > 3600
    assert after.uptime_s == 90 and after.pools[0].accepted < before.pools[0].accepted
    made = FAMILY.create("127.96.3.21", seed=1, clock=FakeClock(), model="0.8.7")
    assert isinstance(made, TeamRedMinerSim) and made.model == "TeamRedMiner 0.8.7"
