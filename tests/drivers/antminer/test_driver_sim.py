"""AntminerDriver against simulated miners on loopback: polls, faults, actions, status codes.

Each test uses its own addresses (127.77.1.x) so that tests never share a listener.
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
from hashfleet.drivers.antminer.driver import AntminerDriver
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import CgminerClient
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.antminer import AntminerSim
from hashfleet.sim.farm import Farm

WAIT = 5.0  # upper bound on any single wait in these tests


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def farm_of(
    n: int, block: int, models: list[str] | None = None, clock: FakeClock | None = None
) -> AsyncIterator[Farm]:
    farm = Farm(antminers=n, ip_base=f"127.77.1.{block * 8 + 1}", web_ui=False, models=models,
                clock=clock or time.time)  # fmt: skip
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        yield farm
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


def driver(farm: Farm, i: int = 0, timeout: float = 2.0) -> AntminerDriver:
    return AntminerDriver(DriverOptions(family="antminer", address=farm.devices[i].address,
                                        timeout=timeout))  # fmt: skip


def sim(farm: Farm, i: int = 0) -> AntminerSim:
    s = farm.devices[i].sim
    assert isinstance(s, AntminerSim)
    return s


async def collect(drv: AntminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_collect_reads_the_preset() -> None:
    async with farm_of(1, 0, models=["Antminer S21"]) as farm:
        snap = await collect(driver(farm))
    s = snap.stats
    assert snap.config.model == "S21"
    assert s.status == "online" and s.errors == []
    assert s.hashrate is not None and 194e12 < s.hashrate < 206e12
    assert s.hashrate_nominal == 200e12
    assert [b.chips for b in s.hashboards] == [108, 108, 108]
    assert all(b.temp_chip is not None and 50 < b.temp_chip < 90 for b in s.hashboards)
    assert len(s.fans) == 4 and all(f.rpm and f.rpm > 3000 for f in s.fans)
    assert [p.active for p in s.pools] == [True, False, False]
    assert s.uptime_s is not None and s.uptime_s > 3600
    assert s.power_w is not None and 3300 < s.power_w < 3700


async def test_refused_device_is_offline_and_its_neighbour_is_not_disturbed() -> None:
    async with farm_of(2, 1) as farm:
        bad, good = driver(farm, 0), driver(farm, 1)
        farm.set_fault(farm.devices[0].address, "refuse")
        results = await asyncio.wait_for(
            asyncio.gather(bad.collect(), good.collect(), return_exceptions=True), WAIT
        )
        assert isinstance(results[0], DeviceOffline)
        assert not isinstance(results[1], BaseException)
        assert results[1].stats.hashrate
        farm.set_fault(farm.devices[0].address, "none")
        assert (await collect(bad)).stats.status == "online"


async def test_hang_is_a_timeout() -> None:
    async with farm_of(1, 2) as farm:
        farm.set_fault(farm.devices[0].address, "hang")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceTimeout):
            await collect(driver(farm, timeout=1.0))
        assert loop.time() - start < 1.5


async def test_garbage_is_an_invalid_reply() -> None:
    async with farm_of(1, 3) as farm:
        farm.set_fault(farm.devices[0].address, "garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(driver(farm))


async def test_overheat_and_dead_board_are_flagged() -> None:
    async with farm_of(2, 4) as farm:
        farm.set_fault(farm.devices[0].address, "overheat")
        farm.set_fault(farm.devices[1].address, "dead_board")
        hot = (await collect(driver(farm, 0))).stats
        dead = (await collect(driver(farm, 1))).stats
    assert hot.errors == ["ERR_OVERHEAT"]
    assert hot.temp_max is not None and hot.temp_max > 95
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in dead.hashboards].count(False) == 1
    broken = next(b for b in dead.hashboards if not b.ok)
    assert (broken.hashrate, broken.chips) == (0.0, 0)
    assert dead.hashrate is not None and dead.hashrate_nominal is not None
    assert dead.hashrate < 0.7 * dead.hashrate_nominal


async def test_pool_down_freezes_share_counters() -> None:
    clock = FakeClock()
    async with farm_of(1, 5, clock=clock) as farm:
        drv = driver(farm)
        before = (await collect(drv)).stats.pools[0].accepted
        clock.t += 600
        grown = (await collect(drv)).stats.pools[0].accepted
        farm.set_fault(farm.devices[0].address, "pool_down")
        clock.t += 600
        down = (await collect(drv)).stats
    assert grown > before + 100  # ~0.37 shares/s at 104 TH/s
    assert down.errors == ["ERR_POOL_DOWN"]
    assert [p.alive for p in down.pools] == [False, False, False]
    assert down.pools[0].accepted == grown


async def test_reboot_restarts_uptime_and_counts_the_reboot() -> None:
    clock = FakeClock()
    async with farm_of(1, 6, clock=clock) as farm:
        drv = driver(farm)
        before = (await collect(drv)).stats
        await asyncio.wait_for(drv.reboot(), WAIT)
        clock.t += 30
        after = (await collect(drv)).stats
        assert sim(farm).reboots == 1
    assert before.uptime_s is not None and before.uptime_s > 3600
    assert after.uptime_s == 30
    assert after.pools[0].accepted < 30  # counters restart with the mining process


async def test_set_pools_replaces_the_pools_in_order() -> None:
    async with farm_of(1, 7) as farm:
        drv = driver(farm)
        wanted = [
            PoolTarget(url="stratum+tcp://new.example.net:3333", user="ops.rig1"),
            PoolTarget(
                url="stratum+tcp://new-backup.example.net:443", user="ops,rig1", password="p"
            ),
        ]
        await asyncio.wait_for(drv.set_pools(wanted), WAIT)
        pools = (await collect(drv)).stats.pools
        assert [(p.url, p.user, p.active) for p in pools] == [
            ("stratum+tcp://new.example.net:3333", "ops.rig1", True),
            ("stratum+tcp://new-backup.example.net:443", "ops,rig1", False),
        ]
        assert sim(farm).pools[1].password == "p"
        first = sim(farm).pools[0]
        await asyncio.wait_for(drv.set_pools(wanted), WAIT)  # already so: nothing changes
        assert sim(farm).pools[0] is first


async def test_firmware_without_joined_commands_is_polled_command_by_command() -> None:
    async with farm_of(1, 8) as farm:
        sim(farm).joined = False
        drv = driver(farm)
        snap = await collect(drv)
        assert snap.stats.hashrate and len(snap.stats.hashboards) == 3
        assert snap.config.model == "S19j Pro"
        await collect(drv)  # the driver remembers and does not try the join again


async def test_write_commands_answer_cgminer_status_codes() -> None:
    async with farm_of(1, 9) as farm:
        client = CgminerClient(farm.devices[0].address, timeout=2.0)

        async def code(command: str, parameter: str | None = None) -> int:
            try:
                reply = await asyncio.wait_for(client.request(command, parameter), WAIT)
            except DeviceCommandFailed as exc:
                return int(exc.details["status_code"])
            return int(reply["STATUS"][0]["Code"])

        assert await code("addpool", "stratum+tcp://x.example.net:3333,u,p") == 55
        assert await code("addpool", "only-a-url") == 53
        assert await code("addpool") == 52
        assert await code("switchpool") == 25
        assert await code("switchpool", "9") == 26
        assert await code("removepool", "0") == 67  # the active pool
        assert await code("switchpool", "3") == 27
        assert await code("removepool", "0") == 68
        assert await code("enablepool", "0") == 49  # already enabled
        assert await code("disablepool", "0") == 48
        assert await code("disablepool", "0") == 50  # already disabled
        assert await code("devdetails") == 45
        assert await code("summary+restart") == 45  # no writes inside a join
        assert await code("estats") == 14
        for _ in range(len(sim(farm).pools) - 1):
            await code("removepool", "1" if sim(farm).active_pool() is sim(farm).pools[0] else "0")
        assert await code("removepool", "0") == 66  # the last pool


async def test_faults_switch_at_run_time_and_heal() -> None:
    async with farm_of(1, 10) as farm:
        drv, address = driver(farm, timeout=1.0), farm.devices[0].address
        for fault, error in (("refuse", DeviceOffline), ("garbage", DeviceReplyInvalid),
                             ("hang", DeviceTimeout)):  # fmt: skip
            farm.set_fault(address, fault)
            with pytest.raises(error):
                await collect(drv)
        farm.set_fault(address, "none")
        assert (await collect(drv)).stats.errors == []
