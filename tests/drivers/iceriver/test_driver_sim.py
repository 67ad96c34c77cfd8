"""IceRiverDriver against simulated IceRivers on loopback: polls, sessions, faults, controls.

Each test uses its own addresses (127.93.2.x) so that tests never share a listener. The
panels listen on port 8080 here (port 80 needs root; the pyasic test covers port 80).
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
from hashfleet.drivers.base import DriverOptions, PoolTarget, parse_options
from hashfleet.drivers.iceriver.driver import IceRiverDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim import registry
from hashfleet.sim.farm import Farm
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.iceriver import FAMILY, IceRiverSim

WAIT = 10.0
PORT = 8080


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_763_900_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def panels(
    block: int, models: list[str], clock: FakeClock | None = None
) -> AsyncIterator[list[IceRiverSim]]:
    server = HttpSimServer()
    sims = [IceRiverSim(f"127.93.2.{block * 8 + i + 1}", model=m, seed=block * 8 + i, port=PORT,
                        clock=clock or time.time) for i, m in enumerate(models)]  # fmt: skip
    try:
        for sim in sims:
            await asyncio.wait_for(server.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(server.close(), WAIT)


@asynccontextmanager
async def driver(
    sim: IceRiverSim, timeout: float = 3.0, password: str | None = None
) -> AsyncIterator[IceRiverDriver]:
    opts = DriverOptions(family="iceriver", address=sim.address, port=sim.port, timeout=timeout,
                         password=password)  # fmt: skip
    drv = IceRiverDriver(opts)
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: IceRiverDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_of_each_preset() -> None:
    async with panels(0, list(FAMILY.models)) as sims:
        snaps = []
        for sim in sims:
            async with driver(sim) as drv:
                snaps.append(await collect(drv))
    expect = [("KS0", 100e9, 1, 1), ("KS3M", 6e12, 3, 4), ("KS5L", 12e12, 3, 4)]
    for snap, sim, (model, nominal, boards, fans) in zip(snaps, sims, expect, strict=True):
        s = snap.stats
        assert (snap.config.make, snap.config.model) == ("IceRiver", model)
        assert (s.coin, s.algorithm, s.status, s.errors) == ("KAS", "kHeavyHash", "online", [])
        assert s.hashrate_nominal == nominal
        assert s.hashrate is not None and 0.95 * nominal < s.hashrate < 1.05 * nominal
        assert len(s.hashboards) == boards and all(b.ok for b in s.hashboards)
        assert len(s.fans) == fans and all(f.rpm for f in s.fans)
        assert s.temp_max is not None and 40 < s.temp_max < 80
        assert [p.active for p in s.pools] == [True, False, False]
        assert snap.config.hostname == sim.host and s.uptime_s and s.uptime_s > 3600


async def test_login_once_and_again_when_the_session_expires() -> None:
    clock = FakeClock()
    async with panels(1, ["KS3M"], clock) as (sim,), driver(sim) as drv:
        for _ in range(3):
            await collect(drv)
        assert drv.client.logins == 1 and sim.logins == 1
        clock.t += sim.session_ttl + 1  # the session times out on the miner
        await collect(drv)
        assert drv.client.logins == 2
        sim.expire_sessions()
        await collect(drv)
        assert drv.client.logins == 3 and len(sim.sessions) == 1


async def test_wrong_password_is_a_failed_command() -> None:
    async with panels(2, ["KS0"]) as (sim,), driver(sim, password="wrong") as drv:
        with pytest.raises(DeviceCommandFailed, match="login"):
            await collect(drv)


async def test_refused_panel_is_offline_and_recovers() -> None:
    async with panels(3, ["KS3M", "KS3M"]) as (bad, good), driver(bad) as b, driver(good) as g:
        await collect(b)  # a kept-alive connection exists before the fault
        bad.set_fault("refuse")
        results = await asyncio.wait_for(
            asyncio.gather(b.collect(), g.collect(), return_exceptions=True), WAIT
        )
        assert isinstance(results[0], DeviceOffline)
        assert isinstance(results[1], Snapshot)
        bad.set_fault("none")
        assert (await collect(b)).stats.status == "online"


async def test_hang_is_a_timeout() -> None:
    async with panels(4, ["KS0"]) as (sim,), driver(sim, timeout=1.0) as drv:
        sim.set_fault("hang")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceTimeout):
            await collect(drv)
        assert loop.time() - start < 5.0


async def test_garbage_is_an_invalid_reply() -> None:
    async with panels(5, ["KS5L"]) as (sim,), driver(sim) as drv:
        await collect(drv)
        sim.set_fault("garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(drv)


async def test_content_faults_show_in_the_snapshot() -> None:
    clock = FakeClock()
    async with (
        panels(6, ["KS3M"] * 3, clock) as (hot, dead, nopool),
        driver(hot) as h,
        driver(dead) as d,
        driver(nopool) as p,
    ):
        hot.set_fault("overheat")
        dead.set_fault("dead_board")
        before = (await collect(p)).stats.pools[0].accepted
        nopool.set_fault("pool_down")
        clock.t += 600
        hs, ds, ps = [(await collect(x)).stats for x in (h, d, p)]
    assert hs.errors == ["ERR_OVERHEAT"] and hs.temp_max is not None and hs.temp_max > 95
    assert ds.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in ds.hashboards].count(False) == 1
    assert ps.errors == ["ERR_POOL_DOWN"] and not any(pool.alive for pool in ps.pools)
    assert ps.pools[0].accepted == before and ps.hashrate == 0.0  # no jobs without a pool
    assert all(b.ok for b in ps.hashboards)  # idle boards are not dead ones


async def test_locate_pools_and_reboot_change_the_device() -> None:
    clock = FakeClock()
    async with panels(7, ["KS5L"], clock) as (sim,), driver(sim) as drv:
        await asyncio.wait_for(drv.set_led(True), WAIT)
        assert sim.locate and (await collect(drv)).stats.led is True
        await asyncio.wait_for(drv.set_led(False), WAIT)
        assert (await collect(drv)).stats.led is False
        targets = [PoolTarget(url="stratum+tcp://kas.new.example.org:5555", user="kaspa:q1.a"),
                   PoolTarget(url="stratum+tcp://kas.new2.example.org:5555", user="kaspa:q1.b",
                              password="p")]  # fmt: skip
        await asyncio.wait_for(drv.set_pools(targets), WAIT)
        pools = (await collect(drv)).stats.pools
        assert [(p.url, p.user) for p in pools] == [(t.url, t.user) for t in targets]
        assert sim.pools[1].password == "p" and sim.pools[2].url == ""
        with pytest.raises(DeviceCommandFailed, match="invalid address"):
            await drv.set_pools([PoolTarget(url="kas.example.org", user="x")])
        logins = drv.client.logins
        clock.t += 5
        await asyncio.wait_for(drv.reboot(), WAIT)
        after = (await collect(drv)).stats
        assert sim.reboots == 1 and after.uptime_s == 0
        assert drv.client.logins == logins + 1  # the reboot ended the session
        assert [p.accepted for p in after.pools] == [0, 0]


async def test_a_farm_serves_icerivers_through_the_registry() -> None:
    registry.register("iceriver", "hashfleet.sim.iceriver:FAMILY")
    farm = Farm(mix={"iceriver": 3}, ip_base="127.93.2.201", web_ui=False)
    try:
        await asyncio.wait_for(farm.start(), WAIT)
    except PermissionError:
        pytest.skip("no permission to bind port 80")
    try:
        models = []
        for dev in farm.devices:
            drv = IceRiverDriver(parse_options(dev.sim.thing_opts()))
            try:
                models.append((await collect(drv)).config.model)
            finally:
                await drv.close()
        assert models == ["KS0", "KS3M", "KS5L"]
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
