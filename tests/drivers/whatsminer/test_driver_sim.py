"""WhatsminerDriver against simulated Whatsminers on loopback (127.92.1.x): API 2.x and API 3
polls, transport and content faults, every control, token expiry and the token limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import (
    BadRequest,
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget, parse_options
from hashfleet.drivers.whatsminer.driver import WhatsminerDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim import registry
from hashfleet.sim.farm import Farm
from hashfleet.sim.whatsminer import TOKEN_TTL, WhatsminerHost, WhatsminerSim

WAIT = 10.0  # upper bound on any single wait in these tests
APIS = ["v2", "v3"]


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_763_900_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def miners(
    block: int, models: list[str], clock: Callable[[], float] = time.time, **kw: object
) -> AsyncIterator[list[WhatsminerSim]]:
    host = WhatsminerHost()
    sims = [WhatsminerSim(f"127.92.1.{block * 8 + i + 1}", model=m, seed=block * 8 + i,
                          clock=clock, **kw)  # type: ignore[arg-type]
            for i, m in enumerate(models)]  # fmt: skip
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(host.close(), WAIT)


def driver(sim: WhatsminerSim, api: str | None = None, timeout: float = 3.0,
           password: str | None = None) -> WhatsminerDriver:  # fmt: skip
    opts = parse_options(sim.thing_opts())
    if api == "v2":
        opts.port, opts.params, opts.password = sim.port, {}, sim.password
    opts.timeout = timeout
    if password is not None:
        opts.password = password
    return WhatsminerDriver(opts)


async def collect(drv: WhatsminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_of_each_preset() -> None:
    async with miners(0, ["M30S+", "M50S", "M60"]) as sims:
        snaps = [await collect(driver(s)) for s in sims]
        m60_v2 = await collect(driver(sims[2], "v2"))
    expect = [("M30S+ V10", 100e12, "20220601.22.REL"), ("M50S VH20", 126e12, "20230508.14.REL"),
              ("M60 VK10", 172e12, "20241202.12.REL")]  # fmt: skip
    for snap, sim, (model, nominal, fw) in zip(snaps, sims, expect, strict=True):
        s, c = snap.stats, snap.config
        assert (c.make, c.model, c.firmware, c.mac) == ("WhatsMiner", model, fw, sim.mac)
        assert c.serial == sim.serial and c.hostname == "WhatsMiner"
        assert s.status == "online" and s.errors == [] and s.work_mode == "normal"
        assert s.hashrate_nominal == nominal
        assert s.hashrate is not None and 0.95 * nominal < s.hashrate < 1.05 * nominal
        assert len(s.hashboards) == 3 and all(b.ok and b.chips for b in s.hashboards)
        assert s.temp_max is not None and 55 < s.temp_max < 90 and len(s.fans) == 2
        assert (
            s.power_w is not None
            and 0.9 * sim.preset.power_w < s.power_w < 1.1 * sim.preset.power_w
        )
        assert s.power_limit_w == sim.power_limit and s.led is False
        assert len(s.pools) == 3 and s.pools[0].active and s.pools[0].accepted > 0
    # The M60 (API 3 firmware) still answers API 2.x reads on 4028 with the same figures.
    assert m60_v2.config.model == "M60 VK10" and m60_v2.stats.hashrate_nominal == 172e12


@pytest.mark.parametrize("api", APIS)
async def test_transport_faults(api: str) -> None:
    async with miners(1 + APIS.index(api), ["M60"]) as (sim,):
        drv = driver(sim, api, timeout=1.0)
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
        assert (await collect(driver(sim, api))).stats.status == "online"


@pytest.mark.parametrize("api", APIS)
async def test_content_faults(api: str) -> None:
    async with miners(3 + APIS.index(api), ["M60"]) as (sim,):
        drv = driver(sim, api)
        sim.set_fault("overheat")
        s = (await collect(drv)).stats
        assert "ERR_OVERHEAT" in s.errors and s.temp_max is not None and s.temp_max > 95
        sim.set_fault("dead_board")
        s = (await collect(drv)).stats
        assert s.errors == ["ERR_HASHBOARD_DEAD"]
        assert [b.index for b in s.hashboards if not b.ok] == [sim.dead_board]
        assert s.hashboards[sim.dead_board].hashrate == 0
        sim.set_fault("pool_down")
        first = (await collect(drv)).stats
        assert first.errors == ["ERR_POOL_DOWN"] and not any(p.alive for p in first.pools)
        sim.clock = lambda: time.time() + 600  # shares must not grow while the pools are down
        later = (await collect(drv)).stats
        assert [p.accepted for p in later.pools] == [p.accepted for p in first.pools]


@pytest.mark.parametrize("api", APIS)
async def test_controls(api: str) -> None:
    async with miners(5 + APIS.index(api), ["M60"]) as (sim,):
        drv = driver(sim, api)
        await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
        s = (await collect(drv)).stats
        assert sim.off and s.status == "sleeping" and s.hashrate == 0 and s.work_mode == "sleep"
        assert s.errors == []
        await asyncio.wait_for(drv.set_power_mode("low"), WAIT)
        s = (await collect(drv)).stats
        assert s.status == "online" and s.work_mode == "low" and sim.power_mode == "low"
        assert s.hashrate is not None and s.hashrate < 0.85 * 172e12
        await asyncio.wait_for(drv.set_power_mode("high"), WAIT)
        assert (await collect(drv)).stats.work_mode == "high"
        await asyncio.wait_for(drv.set_power_mode("normal"), WAIT)
        await asyncio.wait_for(drv.set_power_limit(2500), WAIT)
        s = (await collect(drv)).stats
        assert s.power_limit_w == 2500 and s.power_w is not None and s.power_w <= 2500
        await asyncio.wait_for(drv.set_led(True), WAIT)
        assert (await collect(drv)).stats.led is True and sim.led == "red"
        await asyncio.wait_for(drv.set_led(False), WAIT)
        assert (await collect(drv)).stats.led is False
        pools = [
            PoolTarget(url="stratum+tcp://a.example:3333", user="w.1"),
            PoolTarget(url="stratum+tcp://b.example:3333", user="w.2", password="p"),
        ]
        await asyncio.wait_for(drv.set_pools(pools), WAIT)
        got = (await collect(drv)).stats.pools
        assert [(p.url, p.user) for p in got] == [(p.url, p.user) for p in pools]
        assert sim.pools[1].password == "p" and sim.pools[2].url == ""
        before = sim.reboots
        await asyncio.wait_for(drv.reboot(), WAIT)
        s = (await collect(drv)).stats
        assert sim.reboots == before + 1 and s.uptime_s is not None and s.uptime_s < 5
        with pytest.raises(ValueError):
            await drv.set_power_mode("turbo")
        with pytest.raises(ValueError):
            await drv.set_pools([])


@pytest.mark.parametrize("api", APIS)
async def test_set_frequency(api: str) -> None:
    async with miners(12 + APIS.index(api), ["M60"]) as (sim,):
        drv = driver(sim, api)
        with pytest.raises(ValueError):
            await drv.set_frequency(0)  # refused before anything is sent
        assert drv._freq_mhz is None
        first = (await collect(drv)).stats
        assert [b.clock_core_mhz for b in first.hashboards] == [500.0] * 3
        await asyncio.wait_for(drv.set_frequency(550), WAIT)  # +10 % of the factory 500
        assert sim.freq_pct == 10 and sim.target_freq == 550
        s = (await collect(drv)).stats
        assert [b.clock_core_mhz for b in s.hashboards] == [550.0] * 3
        assert s.hashrate is not None and s.hashrate > 1.05 * 172e12
        await asyncio.wait_for(drv.set_frequency(450), WAIT)  # -10 %, from the factory base
        assert sim.freq_pct == -10
        assert {b.clock_core_mhz for b in (await collect(drv)).stats.hashboards} == {450.0}
        with pytest.raises(ValueError, match="450-1000 MHz"):
            await drv.set_frequency(400)  # -20 %: below the documented range
        assert sim.freq_pct == -10


async def test_set_frequency_before_any_poll_reads_first() -> None:
    async with miners(14, ["M30S+"]) as (sim,):
        drv = driver(sim)
        await asyncio.wait_for(drv.set_frequency(649), WAIT)  # 590 MHz factory: +10 %
        assert sim.freq_pct == 10
        assert "set_frequency" in WhatsminerDriver.capabilities


async def test_expired_token_is_renewed() -> None:
    clock = FakeClock()
    async with miners(7, ["M30S+"], clock=clock) as (sim,):
        drv = driver(sim)
        await asyncio.wait_for(drv.set_led(True), WAIT)
        assert len(sim.tokens) == 1
        clock.t += TOKEN_TTL + 1  # the device drops the token; the driver's copy looks fresh
        await asyncio.wait_for(drv.set_led(False), WAIT)
        assert sim.led == "auto" and sim.token_times == [clock.t]  # a second token was fetched


async def test_token_limit_backs_off() -> None:
    async with miners(8, ["M50S"], token_limit=2) as (sim,):
        for _ in range(2):
            await asyncio.wait_for(driver(sim).set_led(True), WAIT)
        drv = driver(sim)
        with pytest.raises(DeviceCommandFailed, match="token over max times") as exc:
            await asyncio.wait_for(drv.reboot(), WAIT)
        assert exc.value.details["status_code"] == 136 and sim.reboots == 0
        with pytest.raises(DeviceCommandFailed, match="not asking again"):
            await asyncio.wait_for(drv.reboot(), WAIT)
        assert (await collect(drv)).stats.status == "online"  # reads need no token


@pytest.mark.parametrize("api", APIS)
async def test_wrong_password(api: str) -> None:
    async with miners(9 + APIS.index(api), ["M60"]) as (sim,):
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(driver(sim, api, password="nope").reboot(), WAIT)
        assert sim.reboots == 0


def test_bad_api_option() -> None:
    with pytest.raises(BadRequest):
        WhatsminerDriver(DriverOptions(family="whatsminer", address="127.92.1.99",
                                       params={"api": "v9"}))  # fmt: skip


async def test_a_farm_serves_whatsminers_through_the_registry() -> None:
    registry.register("whatsminer", "hashfleet.sim.whatsminer:FAMILY")
    farm = Farm(mix={"whatsminer": 3}, ip_base="127.92.1.201", web_ui=False)
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        models = []
        for dev in farm.devices:
            drv = WhatsminerDriver(parse_options(dev.sim.thing_opts()))
            models.append((await collect(drv)).config.model)
        assert models == ["M30S+ V10", "M50S VH20", "M60 VK10"]
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
