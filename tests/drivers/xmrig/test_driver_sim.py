"""XmrigDriver against simulated XMRig rigs on loopback: polls, faults, pause/resume, auth.

Each test uses its own addresses (127.77.2.x) so that tests never share a listener.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.xmrig.driver import XmrigDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.farm import Farm
from hashfleet.sim.xmrig import XmrigSim

WAIT = 5.0
PORT = 18080  # not XMRig's default, to show the port is honoured


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def rigs(
    n: int, block: int, token: str | None = None, clock: FakeClock | None = None
) -> AsyncIterator[Farm]:
    farm = Farm(xmrigs=n, ip_base=f"127.77.2.{block * 8 + 1}", xmrig_port=PORT,
                xmrig_token=token, clock=clock or time.time)  # fmt: skip
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        yield farm
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


@asynccontextmanager
async def driver(
    farm: Farm, i: int = 0, timeout: float = 2.0, token: str | None = None
) -> AsyncIterator[XmrigDriver]:
    drv = XmrigDriver(DriverOptions(family="xmrig", address=farm.devices[i].address, port=PORT,
                                    timeout=timeout, password=token))  # fmt: skip
    try:
        yield drv
    finally:
        await drv.close()


def sim(farm: Farm, i: int = 0) -> XmrigSim:
    s = farm.devices[i].sim
    assert isinstance(s, XmrigSim)
    return s


async def collect(drv: XmrigDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_collect() -> None:
    async with rigs(1, 0) as farm, driver(farm) as drv:
        snap = await collect(drv)
        snap2 = await collect(drv)  # over the kept-alive connection
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert s.hashrate is not None and 17_500 < s.hashrate < 19_500
    assert (s.algorithm, s.coin) == ("rx/0", "XMR")
    assert len(s.hashboards) == 1 and s.hashboards[0].ok
    assert s.pools[0].alive and s.pools[0].accepted > 0
    assert s.uptime_s is not None and s.uptime_s > 3600
    assert snap.config.firmware == "6.21.0"
    assert snap2.stats.uptime_s is not None and snap2.stats.uptime_s >= s.uptime_s


async def test_refused_rig_is_offline_and_its_neighbour_is_not_disturbed() -> None:
    async with rigs(2, 1) as farm, driver(farm, 0) as bad, driver(farm, 1) as good:
        await collect(bad)  # leaves a kept-alive connection that "refuse" must cut too
        farm.set_fault(farm.devices[0].address, "refuse")
        results = await asyncio.wait_for(
            asyncio.gather(bad.collect(), good.collect(), return_exceptions=True), WAIT
        )
        assert isinstance(results[0], DeviceOffline)
        assert isinstance(results[1], Snapshot) and results[1].stats.hashrate
        farm.set_fault(farm.devices[0].address, "none")
        assert (await collect(bad)).stats.status == "online"


async def test_hang_is_a_timeout_and_garbage_is_invalid() -> None:
    async with rigs(1, 2) as farm, driver(farm, timeout=1.0) as drv:
        farm.set_fault(farm.devices[0].address, "hang")
        with pytest.raises(DeviceTimeout):
            await collect(drv)
        farm.set_fault(farm.devices[0].address, "garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(drv)
        farm.set_fault(farm.devices[0].address, "none")
        assert (await collect(drv)).stats.errors == []


async def test_content_faults() -> None:
    clock = FakeClock()
    async with rigs(3, 3, clock=clock) as farm:
        for dev, fault in zip(farm.devices, ("overheat", "dead_board", "pool_down"), strict=True):
            farm.set_fault(dev.address, fault)
        clock.t += 120
        async with driver(farm, 0) as d0, driver(farm, 1) as d1, driver(farm, 2) as d2:
            hot, dead, down = [(await collect(d)).stats for d in (d0, d1, d2)]
            clock.t += 600
            later = (await collect(d2)).stats
    # XMRig reports no CPU temperature: overheating shows as thermal throttling only.
    assert hot.errors == [] and hot.hashrate is not None and hot.hashrate < 0.7 * 18_500
    assert dead.errors == ["ERR_HASHBOARD_DEAD"] and dead.hashboards[0].ok is False
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert later.pools[0].accepted == down.pools[0].accepted


async def test_pause_and_resume_with_the_access_token() -> None:
    async with rigs(1, 4, token="s3cret") as farm, driver(farm, token="s3cret") as drv:
        await asyncio.wait_for(drv.pause(), WAIT)
        paused = (await collect(drv)).stats
        assert sim(farm).paused
        await asyncio.wait_for(drv.resume(), WAIT)
        resumed = (await collect(drv)).stats
    assert paused.status == "sleeping" and paused.hashrate == 0.0
    assert resumed.status == "online" and resumed.hashrate


async def test_authorization_rules_of_xmrig() -> None:
    async with rigs(1, 5, token="s3cret") as farm:
        async with driver(farm) as anonymous:
            with pytest.raises(DeviceCommandFailed) as info:
                await collect(anonymous)
            assert info.value.details["http_status"] == 401
        async with driver(farm, token="wrong") as wrong:
            with pytest.raises(DeviceCommandFailed) as info:
                await collect(wrong)
            assert info.value.details["http_status"] == 403
    async with rigs(1, 6) as farm, driver(farm) as drv:
        await collect(drv)  # the default, restricted API reads without a token
        with pytest.raises(DeviceCommandFailed) as info:
            await asyncio.wait_for(drv.pause(), WAIT)
        assert info.value.details["http_status"] == 403
        assert not sim(farm).paused
