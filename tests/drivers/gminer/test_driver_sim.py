"""GminerDriver against simulated GMiner rigs on loopback (127.95.3.x): polls (3.44 with
dual mining, 2.75), transport and content faults.

GMiner's API is read-only, so there are no controls to test; pyasic does not support GPU
mining software, so there is no pyasic test for this family.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.gminer.driver import GminerDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.gminer import FAMILY, GminerSim
from hashfleet.sim.gpu import EQUIHASH125_4, ETCHASH, KHEAVYHASH
from hashfleet.sim.http import HttpSimServer

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def rig(
    host: int, clock: FakeClock | None = None, *, short: bool = False, **kw: Any
) -> AsyncIterator[tuple[GminerSim, GminerDriver]]:
    sim = GminerSim(f"127.95.3.{host}", seed=host, clock=clock or FakeClock(), **kw)
    server = HttpSimServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    drv = GminerDriver(DriverOptions(family="gminer", address=sim.address,
                                     timeout=1.0 if short else 3.0))  # fmt: skip
    try:
        yield sim, drv
    finally:
        await drv.close()
        await asyncio.wait_for(server.close(), WAIT)


async def collect(drv: GminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_dual_mining_poll_of_3_44() -> None:
    cards = ("RTX 3080", "RTX 3080", "RTX 3070")
    async with rig(1, cards=cards, algos=(ETCHASH, KHEAVYHASH)) as (sim, drv):
        snap = await collect(drv)
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert [(x.algorithm, x.coin) for x in s.streams] == [("etchash", "ETC"), ("kheavyhash", "KAS")]
    assert s.hashrate == s.streams[0].hashrate
    assert s.hashrate is not None and 0.92 * 250e6 < s.hashrate < 0.92 * 265e6
    assert [b.name for b in s.hashboards] == ["NVIDIA GeForce RTX 3080"] * 2 + [
        "NVIDIA GeForce RTX 3070"
    ]
    for b in s.hashboards:
        assert b.kind == "gpu" and b.software == "GMiner 3.44" and b.ok
        assert b.temp_chip and b.temp_mem and b.power_w and b.clock_core_mhz and b.accepted
    assert [p.url for p in s.pools] == [sim.pools[0], sim.pool2]
    assert s.uptime_s == sim.uptime(sim.clock())
    c = snap.config
    assert (c.make, c.firmware, c.software) == ("GMiner", "3.44", "GMiner 3.44")


async def test_old_version_on_amd_cards_mining_equihash() -> None:
    async with rig(2, version="2.75", cards=("RX 6600",) * 6, algos=(EQUIHASH125_4,)) as (
        _,
        drv,
    ):
        snap = await collect(drv)
    s = snap.stats
    assert (s.algorithm, s.coin) == ("equihash125_4", "FLUX")
    assert s.hashrate is not None and 6 * 22 < s.hashrate < 6 * 24  # Sol/s
    assert all(b.temp_mem is None for b in s.hashboards) and snap.config.firmware == "2.75"


async def test_transport_faults() -> None:
    async with rig(3, short=True) as (sim, drv):
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
    async with rig(4, clock, cards=("RX 6800 XT",) * 4) as (sim, drv):
        sim.set_fault("overheat")
        hot = (await collect(drv)).stats
        sim.set_fault("dead_board")
        dead = (await collect(drv)).stats
        sim.set_fault("pool_down")
        down = (await collect(drv)).stats
        clock.t += 300
        later = (await collect(drv)).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max is not None and hot.temp_max > 90
    assert dead.errors == ["ERR_HASHBOARD_DEAD"] and dead.hashboards[3].hashrate == 0.0
    assert [b.ok for b in dead.hashboards] == [True, True, True, False]
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert later.pools[0].accepted == down.pools[0].accepted


def test_family_plugin_and_no_controls() -> None:
    for seed, model in enumerate((*FAMILY.models, None, None)):
        sim = FAMILY.create("127.95.3.200", seed=seed, clock=FakeClock(), model=model)
        assert isinstance(sim, GminerSim) and sim.model.startswith("GMiner ")
    assert GminerDriver.capabilities == frozenset()
