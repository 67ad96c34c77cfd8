"""AvalonDriver against simulated Avalons on loopback: JSON and text polls, faults, controls.

Each test uses its own addresses (127.93.1.x) so that tests never share a listener.
"""

from __future__ import annotations

import asyncio
import time
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
from hashfleet.drivers.avalon.driver import AvalonDriver
from hashfleet.drivers.base import DriverOptions, PoolTarget, parse_options
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim import registry
from hashfleet.sim.avalon import FAMILY, AvalonHost, AvalonSim
from hashfleet.sim.farm import Farm

WAIT = 10.0  # upper bound on any single wait in these tests
APIS = ["json", "text"]


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_763_900_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def avalons(
    block: int, models: list[str], clock: FakeClock | None = None, **kw: object
) -> AsyncIterator[list[AvalonSim]]:
    host = AvalonHost()
    sims = [AvalonSim(f"127.93.1.{block * 8 + i + 1}", model=m, seed=block * 8 + i,
                      clock=clock or time.time, **kw)  # type: ignore[arg-type]
            for i, m in enumerate(models)]  # fmt: skip
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(host.close(), WAIT)


def driver(sim: AvalonSim, api: str = "json", timeout: float = 3.0) -> AvalonDriver:
    opts = DriverOptions(**sim.thing_opts(), timeout=timeout, params={"api": api})  # type: ignore[arg-type]
    return AvalonDriver(opts)


async def collect(drv: AvalonDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


@pytest.mark.parametrize("api", APIS)
async def test_normal_poll_of_each_preset(api: str) -> None:
    block = APIS.index(api)
    async with avalons(block, list(FAMILY.models)) as sims:
        snaps = [await collect(driver(s, api)) for s in sims]
    expect = [("1246", 90e12, 3, 4), ("1366", 118e12, 3, 4), ("Nano 3", 4e12, 1, 1)]
    for snap, sim, (model, nominal, boards, fans) in zip(snaps, sims, expect, strict=True):
        s = snap.stats
        assert snap.config.model == model and snap.config.make == "Avalon"
        assert s.status == "online" and s.errors == []
        assert s.hashrate_nominal == nominal
        assert s.hashrate is not None and 0.95 * nominal < s.hashrate < 1.05 * nominal
        assert len(s.hashboards) == boards and all(b.ok and b.chips for b in s.hashboards)
        assert len(s.fans) == fans and all(f.rpm for f in s.fans)
        assert s.power_w and s.power_limit_w and s.temp_max and 50 < s.temp_max < 90
        assert [p.active for p in s.pools] == [True, False, False]
        assert s.uptime_s == sim.uptime(time.time()) or s.uptime_s
        assert snap.config.serial == sim.dna


async def test_refused_device_is_offline_and_recovers() -> None:
    async with avalons(2, ["Avalon 1246", "Avalon 1246"]) as (bad, good):
        bad.set_fault("refuse")
        results = await asyncio.wait_for(
            asyncio.gather(driver(bad).collect(), driver(good).collect(), return_exceptions=True),
            WAIT,
        )
        assert isinstance(results[0], DeviceOffline)
        assert isinstance(results[1], Snapshot)
        with pytest.raises(DeviceOffline):
            await collect(driver(bad, "text"))
        bad.set_fault("none")
        assert (await collect(driver(bad))).stats.status == "online"


@pytest.mark.parametrize("api", APIS)
async def test_hang_is_a_timeout(api: str) -> None:
    async with avalons(3 + APIS.index(api), ["Avalon Nano 3"]) as (sim,):
        sim.set_fault("hang")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceTimeout):
            await collect(driver(sim, api, timeout=1.0))
        assert loop.time() - start < 5.0


@pytest.mark.parametrize("api", APIS)
async def test_garbage_is_an_invalid_reply(api: str) -> None:
    async with avalons(5 + APIS.index(api), ["Avalon 1366"]) as (sim,):
        sim.set_fault("garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(driver(sim, api))


async def test_content_faults_show_in_the_snapshot() -> None:
    clock = FakeClock()
    async with avalons(7, ["Avalon 1246"] * 3, clock=clock) as (hot, dead, nopool):
        hot.set_fault("overheat")
        dead.set_fault("dead_board")
        before = (await collect(driver(nopool, "text"))).stats.pools[0].accepted
        nopool.set_fault("pool_down")
        clock.t += 600
        h, d, p = [(await collect(driver(s))).stats for s in (hot, dead, nopool)]
    assert h.errors == ["ERR_OVERHEAT"] and h.temp_max is not None and h.temp_max > 95
    assert d.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in d.hashboards].count(False) == 1
    assert p.errors == ["ERR_POOL_DOWN"] and not any(pool.alive for pool in p.pools)
    assert p.pools[0].accepted == before  # counters froze


@pytest.mark.parametrize("api", APIS)
async def test_sleep_wake_and_work_modes(api: str) -> None:
    clock = FakeClock()
    async with avalons(8 + APIS.index(api), ["Avalon Nano 3", "Avalon 1246"], clock) as sims:
        nano, big = sims
        drv = driver(nano, api)
        assert (await collect(drv)).stats.work_mode == "high"
        await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
        assert nano.soft_off(clock())
        s = (await collect(drv)).stats
        assert (s.status, s.work_mode, s.hashrate) == ("sleeping", "sleep", 0.0)
        assert s.errors == [] and s.power_w is not None and s.power_w < 20
        await asyncio.wait_for(drv.set_power_mode("low"), WAIT)
        s = (await collect(drv)).stats
        assert (s.status, s.work_mode, nano.workmode) == ("online", "low", 0)
        assert s.hashrate is not None and 1.8e12 < s.hashrate < 2.2e12
        # A fresh driver that never polled learns the model first.
        big_drv = driver(big, api)
        await asyncio.wait_for(big_drv.set_power_mode("high"), WAIT)
        assert (await collect(big_drv)).stats.work_mode == "high" and big.workmode == 1
        with pytest.raises(ValueError, match="no power mode 'low'"):
            await big_drv.set_power_mode("low")


async def test_led_pools_and_reboot_change_the_device() -> None:
    clock = FakeClock()
    async with avalons(10, ["Avalon 1246"], clock) as (sim,):
        drv = driver(sim, "text")
        await asyncio.wait_for(drv.set_led(True), WAIT)
        assert sim.led and (await collect(drv)).stats.led is True
        await asyncio.wait_for(drv.set_led(False), WAIT)
        assert (await collect(drv)).stats.led is False
        targets = [
            PoolTarget(url="stratum+tcp://new.example.org:3333", user="me.1"),
            PoolTarget(url="stratum+tcp://new2.example.org:3333", user="me.2", password="p"),
        ]
        await asyncio.wait_for(drv.set_pools(targets), WAIT)
        pools = (await collect(drv)).stats.pools
        assert [(p.url, p.user) for p in pools] == [(t.url, t.user) for t in targets]
        assert sim.pools[1].password == "p" and sim.pools[2].url == ""
        with pytest.raises(ValueError):
            await drv.set_pools([PoolTarget(url="stratum+tcp://a,b:1", user="x")])
        before = (await collect(drv)).stats.uptime_s
        clock.t += 5
        await asyncio.wait_for(drv.reboot(), WAIT)
        after = (await collect(drv)).stats
    assert before is not None and before > 3600
    assert after.uptime_s == 0 and sim.reboots == 1
    assert [p.accepted for p in after.pools] == [0, 0]


@pytest.mark.parametrize("api", APIS)
async def test_fan_speed(api: str) -> None:
    async with avalons(12 + APIS.index(api), ["Avalon 1246"]) as (sim,):
        drv = driver(sim, api)
        auto = [f.rpm or 0 for f in (await collect(drv)).stats.fans]
        for bad in (10, 101, 0, True):
            with pytest.raises(ValueError):
                await drv.set_fan(bad)  # refused before anything is sent
        assert sim.fan_spd == -1
        await asyncio.wait_for(drv.set_fan(100), WAIT)
        assert sim.fan_spd == 100
        full = [f.rpm or 0 for f in (await collect(drv)).stats.fans]
        assert min(full) > max(auto) * 1.3
        await asyncio.wait_for(drv.set_fan(30), WAIT)
        slow = [f.rpm or 0 for f in (await collect(drv)).stats.fans]
        assert max(slow) < min(auto) * 0.6
        await asyncio.wait_for(drv.set_fan(None), WAIT)
        assert sim.fan_spd == -1
        back = [f.rpm or 0 for f in (await collect(drv)).stats.fans]
        assert min(back) > max(slow) and "set_fan" in drv.capabilities


async def test_wrong_web_login_fails_setpool() -> None:
    async with avalons(11, ["Avalon 1246"]) as (sim,):
        opts = DriverOptions(family="avalon", address=sim.address, password="nope", timeout=3.0)
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(
                AvalonDriver(opts).set_pools([PoolTarget(url="stratum+tcp://a:1", user="u")]),
                WAIT,
            )
        assert sim.pools[0].url.startswith("stratum+tcp://btc.pool")


def test_unknown_api_param_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        AvalonDriver(DriverOptions(family="avalon", address="127.0.0.1", params={"api": "xml"}))


async def test_a_farm_serves_avalons_through_the_registry() -> None:
    registry.register("avalon", "hashfleet.sim.avalon:FAMILY")
    farm = Farm(mix={"avalon": 3}, ip_base="127.93.1.201", web_ui=False)
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        models = []
        for dev in farm.devices:
            drv = AvalonDriver(parse_options(dev.sim.thing_opts()))
            models.append((await collect(drv)).config.model)
        assert models == ["1246", "1366", "Nano 3"]
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
