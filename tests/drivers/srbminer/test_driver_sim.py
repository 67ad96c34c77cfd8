"""SrbminerDriver against simulated SRBMiner-MULTI rigs on loopback (127.96.2.x): polls,
transport and content faults, the restart URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions, parse_options
from hashfleet.drivers.srbminer.driver import SrbminerDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.srbminer import FAMILY, RESTART_DOWNTIME, SrbminerSim

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def serving(*sims: SrbminerSim) -> AsyncIterator[HttpSimServer]:
    server = HttpSimServer()
    try:
        for sim in sims:
            await asyncio.wait_for(server.add(sim), WAIT)
        yield server
    finally:
        await asyncio.wait_for(server.close(), WAIT)


@asynccontextmanager
async def driver(sim: SrbminerSim, timeout: float = 3.0) -> AsyncIterator[SrbminerDriver]:
    drv = SrbminerDriver(parse_options({**sim.thing_opts(), "timeout": timeout}))
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: SrbminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_gpu_and_cpu() -> None:
    both = SrbminerSim("127.96.2.1", seed=2, cards=["RX 6600"] * 3)
    gpu_only = SrbminerSim("127.96.2.2", seed=3, version="0.9.7", cpu=False)
    async with serving(both, gpu_only), driver(both) as d1, driver(gpu_only) as d2:
        a, b = await collect(d1), await collect(d2)
    assert a.stats.status == "online" and a.stats.errors == []
    assert [s.algorithm for s in a.stats.streams] == ["autolykos2", "randomx"]
    assert [h.kind for h in a.stats.hashboards] == ["gpu", "gpu", "gpu", "cpu"]
    assert a.stats.hashrate is not None and 330e6 < a.stats.hashrate < 380e6
    assert a.stats.streams[1].hashrate is not None and a.stats.streams[1].hashrate > 15_000
    assert b.config.firmware == "0.9.7" and len(b.stats.streams) == 1
    assert all(h.kind == "gpu" for h in b.stats.hashboards)


async def test_refuse_hang_garbage() -> None:
    sim = SrbminerSim("127.96.2.3", seed=4)
    async with serving(sim), driver(sim, timeout=1.0) as drv:
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
    sims = [SrbminerSim(f"127.96.2.{10 + i}", seed=i, clock=clock) for i in range(3)]
    async with serving(*sims):
        for sim, fault in zip(sims, ("overheat", "dead_board", "pool_down"), strict=True):
            sim.set_fault(fault)
        clock.t += 30
        async with driver(sims[0]) as d0, driver(sims[1]) as d1, driver(sims[2]) as d2:
            hot, dead, down = [(await collect(d)).stats for d in (d0, d1, d2)]
            clock.t += 600
            later = (await collect(d2)).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max is not None and hot.temp_max > 90
    gpus = [h for h in dead.hashboards if h.kind == "gpu"]
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert gpus[-1].hashrate == 0.0 and gpus[-1].ok is False
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert [s.hashrate for s in down.streams] == [0.0, 0.0]
    assert [p.accepted for p in later.pools] == [p.accepted for p in down.pools]


async def test_reboot_restarts_the_miner() -> None:
    clock = FakeClock()
    sim = SrbminerSim("127.96.2.20", seed=6, clock=clock, restart_path="/api/restart-miner")
    async with serving(sim), driver(sim, timeout=1.0) as drv:
        before = (await collect(drv)).stats
        await asyncio.wait_for(drv.reboot(), WAIT)
        assert sim.reboots == 1
        with pytest.raises(DeviceOffline):  # down while it restarts
            await collect(drv)
        clock.t += RESTART_DOWNTIME + 60
        after = (await collect(drv)).stats
    assert before.uptime_s is not None and before.uptime_s > 3600
    assert after.uptime_s == 60 and after.pools[0].accepted < before.pools[0].accepted


async def test_wrong_restart_url_fails_and_bad_opts_are_refused() -> None:
    sim = SrbminerSim("127.96.2.21", seed=7)
    async with serving(sim):
        drv = SrbminerDriver(DriverOptions(family="srbminer", address=sim.address,
                                           params={"restart_url": "/nope"}))  # fmt: skip
        try:
            with pytest.raises(DeviceCommandFailed):
                await asyncio.wait_for(drv.reboot(), WAIT)
        finally:
            await drv.close()
    assert sim.reboots == 0
    with pytest.raises(BadRequest):
        SrbminerDriver(DriverOptions(family="srbminer", address="x", params={"restart_url": 5}))
    made = FAMILY.create("127.96.2.22", seed=1, clock=FakeClock(), model=None)
    assert isinstance(made, SrbminerSim) and made.model.startswith("SRBMiner-MULTI")
