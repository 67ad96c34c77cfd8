"""The Braiins OS driver against the simulator: polls, faults and every control.
Addresses: 127.94.1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.braiins.driver import BraiinsDriver
from hashfleet.sim.braiins import BraiinsSim
from hashfleet.sim.cgminer_family import CgminerHost

WAIT = 10.0
_n = iter(range(1, 250))


@pytest.fixture
async def sim() -> AsyncIterator[BraiinsSim]:
    device = BraiinsSim(f"127.94.1.{next(_n)}", model="Antminer S19 XP", seed=11)
    host = CgminerHost()
    await asyncio.wait_for(host.add(device), WAIT)
    yield device
    await asyncio.wait_for(host.close(), WAIT)


def driver(sim: BraiinsSim, timeout: float = 5.0) -> BraiinsDriver:
    return BraiinsDriver(DriverOptions(family="braiins", address=sim.address, timeout=timeout))


async def test_poll(sim: BraiinsSim) -> None:
    snap = await asyncio.wait_for(driver(sim).collect(), WAIT)
    s = snap.stats
    assert (snap.config.model, snap.config.make) == ("S19 XP", "Antminer")
    assert s.status == "online" and s.errors == [] and s.hashrate and s.hashrate > 130e12
    assert len(s.hashboards) == 3 and all(b.chips == 110 for b in s.hashboards)
    assert len(s.fans) == 4 and s.power_w and len(s.pools) == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [("refuse", DeviceOffline), ("hang", DeviceTimeout), ("garbage", DeviceReplyInvalid)],
)
async def test_transport_faults(sim: BraiinsSim, fault: str, error: type[Exception]) -> None:
    sim.set_fault(fault)
    with pytest.raises(error):
        await asyncio.wait_for(driver(sim, timeout=1.0).collect(), WAIT)


@pytest.mark.parametrize(
    ("fault", "code"),
    [("overheat", "ERR_OVERHEAT"), ("dead_board", "ERR_HASHBOARD_DEAD"),
     ("pool_down", "ERR_POOL_DOWN")],
)  # fmt: skip
async def test_content_faults(sim: BraiinsSim, fault: str, code: str) -> None:
    sim.set_fault(fault)
    snap = await asyncio.wait_for(driver(sim).collect(), WAIT)
    assert code in snap.stats.errors and snap.stats.status == "online"


async def test_reboot_restarts_uptime(sim: BraiinsSim) -> None:
    d = driver(sim)
    before = (await asyncio.wait_for(d.collect(), WAIT)).stats.uptime_s
    await asyncio.wait_for(d.reboot(), WAIT)
    after = (await asyncio.wait_for(d.collect(), WAIT)).stats.uptime_s
    assert sim.reboots == 1 and before and after is not None and after < before


async def test_set_pools(sim: BraiinsSim) -> None:
    d = driver(sim)
    targets = [PoolTarget(url="stratum+tcp://a.example:3333", user="w,1"),
               PoolTarget(url="stratum+tcp://b.example:3333", user="w2")]  # fmt: skip
    await asyncio.wait_for(d.set_pools(targets), WAIT)
    pools = (await asyncio.wait_for(d.collect(), WAIT)).stats.pools
    assert [(p.url, p.user) for p in pools] == [(t.url, t.user) for t in targets]
    assert pools[0].active
    with pytest.raises(ValueError):
        await d.set_pools([])


async def test_power_mode_pauses_and_resumes(sim: BraiinsSim) -> None:
    d = driver(sim)
    await asyncio.wait_for(d.set_power_mode("sleep"), WAIT)
    snap = await asyncio.wait_for(d.collect(), WAIT)
    assert sim.paused and snap.stats.status == "sleeping" and not snap.stats.hashrate
    await asyncio.wait_for(d.set_power_mode("normal"), WAIT)
    snap = await asyncio.wait_for(d.collect(), WAIT)
    assert not sim.paused and snap.stats.status == "online" and snap.stats.hashrate
    with pytest.raises(ValueError):
        await d.set_power_mode("high")
