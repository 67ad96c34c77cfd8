"""The LuxOS driver against the simulator: polls, faults and every control.
Addresses: 127.94.2.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.luxos.driver import LuxosDriver
from hashfleet.sim.cgminer_family import CgminerHost
from hashfleet.sim.luxos import LuxosSim

WAIT = 10.0
_n = iter(range(1, 250))


@pytest.fixture
async def sim() -> AsyncIterator[LuxosSim]:
    device = LuxosSim(f"127.94.2.{next(_n)}", model="Antminer S21", seed=11)
    host = CgminerHost()
    await asyncio.wait_for(host.add(device), WAIT)
    yield device
    await asyncio.wait_for(host.close(), WAIT)


def driver(sim: LuxosSim, timeout: float = 5.0) -> LuxosDriver:
    return LuxosDriver(DriverOptions(family="luxos", address=sim.address, timeout=timeout))


async def test_poll(sim: LuxosSim) -> None:
    snap = await asyncio.wait_for(driver(sim).collect(), WAIT)
    s = snap.stats
    assert (snap.config.model, snap.config.make) == ("S21", "Antminer")
    assert s.status == "online" and s.errors == [] and s.hashrate and s.hashrate > 180e12
    assert len(s.hashboards) == 3 and all(b.chips == 108 for b in s.hashboards)
    assert len(s.fans) == 4 and s.power_w and len(s.pools) == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [("refuse", DeviceOffline), ("hang", DeviceTimeout), ("garbage", DeviceReplyInvalid)],
)
async def test_transport_faults(sim: LuxosSim, fault: str, error: type[Exception]) -> None:
    sim.set_fault(fault)
    with pytest.raises(error):
        await asyncio.wait_for(driver(sim, timeout=1.0).collect(), WAIT)


@pytest.mark.parametrize(
    ("fault", "code"),
    [("overheat", "ERR_OVERHEAT"), ("dead_board", "ERR_HASHBOARD_DEAD"),
     ("pool_down", "ERR_POOL_DOWN")],
)  # fmt: skip
async def test_content_faults(sim: LuxosSim, fault: str, code: str) -> None:
    sim.set_fault(fault)
    snap = await asyncio.wait_for(driver(sim).collect(), WAIT)
    assert code in snap.stats.errors and snap.stats.status == "online"


async def test_reboot_restarts_uptime(sim: LuxosSim) -> None:
    d = driver(sim)
    before = (await asyncio.wait_for(d.collect(), WAIT)).stats.uptime_s
    await asyncio.wait_for(d.reboot(), WAIT)
    after = (await asyncio.wait_for(d.collect(), WAIT)).stats.uptime_s
    assert sim.reboots == 1 and before and after is not None and after < before


async def test_set_pools(sim: LuxosSim) -> None:
    d = driver(sim)
    targets = [PoolTarget(url="stratum+tcp://a.example:3333", user="w,1"),
               PoolTarget(url="stratum+tcp://b.example:3333", user="w2")]  # fmt: skip
    await asyncio.wait_for(d.set_pools(targets), WAIT)
    pools = (await asyncio.wait_for(d.collect(), WAIT)).stats.pools
    assert [(p.url, p.user) for p in pools] == [(t.url, t.user) for t in targets]
    assert pools[0].active
    with pytest.raises(ValueError):
        await d.set_pools([])


async def test_power_modes_curtail_and_profile(sim: LuxosSim) -> None:
    d = driver(sim)
    await asyncio.wait_for(d.set_power_mode("sleep"), WAIT)
    snap = await asyncio.wait_for(d.collect(), WAIT)
    assert sim.paused and snap.stats.status == "sleeping" and snap.stats.work_mode == "sleep"
    await asyncio.wait_for(d.set_power_mode("low"), WAIT)
    low = await asyncio.wait_for(d.collect(), WAIT)
    assert not sim.paused and sim.profile == "-2" and low.stats.work_mode == "low"
    await asyncio.wait_for(d.set_power_mode("high"), WAIT)
    high = await asyncio.wait_for(d.collect(), WAIT)
    assert high.stats.work_mode == "high" and high.stats.status == "online"
    assert low.stats.hashrate and high.stats.hashrate and high.stats.hashrate > low.stats.hashrate
    assert low.stats.power_w and high.stats.power_w and high.stats.power_w > low.stats.power_w
    with pytest.raises(ValueError):
        await d.set_power_mode("turbo")


async def test_led(sim: LuxosSim) -> None:
    d = driver(sim)
    await asyncio.wait_for(d.set_led(True), WAIT)
    assert sim.red_led and (await asyncio.wait_for(d.collect(), WAIT)).stats.led is True
    await asyncio.wait_for(d.set_led(False), WAIT)
    assert (await asyncio.wait_for(d.collect(), WAIT)).stats.led is False


async def test_writes_need_a_session_and_survive_its_loss(sim: LuxosSim) -> None:
    from hashfleet.core.errors import DeviceCommandFailed
    from hashfleet.drivers.common.cgminer import CgminerClient

    with pytest.raises(DeviceCommandFailed):
        await CgminerClient(sim.address).request("curtail", "bogus,sleep", write=True)
    assert not sim.paused
    d = driver(sim)
    await asyncio.wait_for(d.set_led(True), WAIT)
    sim.session_id = "expired0"  # the device dropped the driver's session
    await asyncio.wait_for(d.set_power_mode("sleep"), WAIT)
    assert sim.paused


async def test_fan_speed(sim: LuxosSim) -> None:
    d = driver(sim)
    auto = [f.rpm or 0 for f in (await asyncio.wait_for(d.collect(), WAIT)).stats.fans]
    for bad in (-1, 101, True):
        with pytest.raises(ValueError):
            await d.set_fan(bad)  # refused before anything is sent
    assert sim.fan_speed == -1 and not sim.session_id
    await asyncio.wait_for(d.set_fan(100), WAIT)
    assert sim.fan_speed == 100
    fans = (await asyncio.wait_for(d.collect(), WAIT)).stats.fans
    assert [f.rpm for f in fans] == [6600] * len(fans) and min(auto) < 6000
    await asyncio.wait_for(d.set_fan(50), WAIT)
    assert {f.rpm for f in (await asyncio.wait_for(d.collect(), WAIT)).stats.fans} == {3300}
    await asyncio.wait_for(d.set_fan(None), WAIT)
    assert sim.fan_speed == -1
    back = (await asyncio.wait_for(d.collect(), WAIT)).stats.fans
    assert all(f.rpm and f.rpm < 6000 for f in back)


async def test_frequency(sim: LuxosSim) -> None:
    d = driver(sim)
    first = await asyncio.wait_for(d.collect(), WAIT)
    assert [b.clock_core_mhz for b in first.stats.hashboards] == [490.0] * 3
    with pytest.raises(ValueError):
        await d.set_frequency(5000)  # refused before anything is sent
    assert not sim.freqs
    await asyncio.wait_for(d.set_frequency(540), WAIT)
    assert sim.freqs == {0: 540, 1: 540, 2: 540}
    snap = await asyncio.wait_for(d.collect(), WAIT)
    assert [b.clock_core_mhz for b in snap.stats.hashboards] == [540.0] * 3
    assert snap.stats.hashrate and first.stats.hashrate
    assert snap.stats.hashrate > first.stats.hashrate * 1.05
    await asyncio.wait_for(d.set_power_mode("normal"), WAIT)  # a profile brings its own
    again = await asyncio.wait_for(d.collect(), WAIT)
    assert [b.clock_core_mhz for b in again.stats.hashboards] == [490.0] * 3


async def test_frequency_before_any_poll(sim: LuxosSim) -> None:
    await asyncio.wait_for(driver(sim).set_frequency(450), WAIT)
    assert sim.freqs == {0: 450, 1: 450, 2: 450}
    assert {"set_fan", "set_frequency"} <= LuxosDriver.capabilities
