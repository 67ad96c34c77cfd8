"""BzminerDriver against simulated BzMiner rigs on loopback (127.96.1.x): polls, transport
and content faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import DriverOptions, parse_options
from hashfleet.drivers.bzminer.driver import BzminerDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.bzminer import FAMILY, BzminerSim
from hashfleet.sim.http import HttpSimServer

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def serving(*sims: BzminerSim) -> AsyncIterator[HttpSimServer]:
    server = HttpSimServer()
    try:
        for sim in sims:
            await asyncio.wait_for(server.add(sim), WAIT)
        yield server
    finally:
        await asyncio.wait_for(server.close(), WAIT)


@asynccontextmanager
async def driver(sim: BzminerSim, timeout: float = 3.0) -> AsyncIterator[BzminerDriver]:
    opts = parse_options({**sim.thing_opts(), "timeout": timeout})
    drv = BzminerDriver(opts)
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: BzminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_of_both_versions() -> None:
    new = BzminerSim("127.96.1.1", seed=2, algos=("etchash", "kheavyhash"))
    old = BzminerSim("127.96.1.2", seed=3, version="13.1.1", cards=["RX 6600"] * 3)
    async with serving(new, old), driver(new) as d1, driver(old) as d2:
        a, b = await collect(d1), await collect(d2)
        again = await collect(d1)  # over the kept-alive connection
    assert a.stats.status == "online" and a.stats.errors == []
    assert [s.algorithm for s in a.stats.streams] == ["etchash", "kheavyhash"]
    assert a.stats.hashrate is not None and a.stats.hashrate > 100e6
    assert len(a.stats.hashboards) == len(new.rig.cards)
    assert all(h.kind == "gpu" and h.temp_chip and h.power_w for h in a.stats.hashboards)
    assert a.config.firmware == "21.3.7" and b.config.firmware == "13.1.1"
    assert b.stats.hashrate is not None and 90e6 < b.stats.hashrate < 100e6
    assert again.stats.uptime_s is not None and a.stats.uptime_s is not None
    assert BzminerDriver.capabilities == frozenset()


async def test_refuse_hang_garbage() -> None:
    sim = BzminerSim("127.96.1.3", seed=4)
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
    sims = [BzminerSim(f"127.96.1.{10 + i}", seed=i, clock=clock) for i in range(3)]
    async with serving(*sims):
        for sim, fault in zip(sims, ("overheat", "dead_board", "pool_down"), strict=True):
            sim.set_fault(fault)
        clock.t += 30
        async with driver(sims[0]) as d0, driver(sims[1]) as d1, driver(sims[2]) as d2:
            hot, dead, down = [(await collect(d)).stats for d in (d0, d1, d2)]
            clock.t += 600
            later = (await collect(d2)).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max is not None and hot.temp_max > 90
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert dead.hashboards[-1].hashrate == 0.0 and dead.hashboards[-1].ok is False
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert not any(p.alive for p in down.pools)
    assert later.pools[0].accepted == down.pools[0].accepted


async def test_port_is_honoured_and_family_builds_sims() -> None:
    sim = FAMILY.create("127.96.1.20", seed=5, clock=FakeClock(), model="13.1.1")
    assert isinstance(sim, BzminerSim) and sim.model == "BzMiner 13.1.1"
    moved = BzminerSim("127.96.1.21", port=14014)
    async with serving(moved):
        drv = BzminerDriver(DriverOptions(family="bzminer", address="127.96.1.21", port=14014))
        try:
            assert (await collect(drv)).stats.status == "online"
        finally:
            await drv.close()
