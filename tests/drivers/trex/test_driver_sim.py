"""TrexDriver against simulated T-Rex rigs on loopback (127.95.2.x): polls (0.26 with dual
mining, 0.19), faults, pause/resume, pools, config and the API password's session ids.

pyasic does not support GPU mining software, so there is no pyasic test for this family.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.trex.driver import TrexDriver
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.gpu import AUTOLYKOS2, ETCHASH, KAWPOW
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.trex import FAMILY, TrexSim

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_732_300_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def rig(
    host: int,
    clock: FakeClock | None = None,
    *,
    short: bool = False,
    login: str | None = None,
    **kw: Any,
) -> AsyncIterator[tuple[TrexSim, TrexDriver]]:
    sim = TrexSim(f"127.95.2.{host}", seed=host, clock=clock or FakeClock(), **kw)
    server = HttpSimServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    opts = DriverOptions(family="trex", address=sim.address, timeout=1.0 if short else 3.0,
                         password=login if login is not None else sim.password)  # fmt: skip
    drv = TrexDriver(opts)
    try:
        yield sim, drv
    finally:
        await drv.close()
        await asyncio.wait_for(server.close(), WAIT)


async def collect(drv: TrexDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_normal_poll_of_0_26() -> None:
    async with rig(1, cards=("RTX 3080",) * 4) as (sim, drv):
        snap = await collect(drv)
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert s.hashrate is not None and 4 * 94e6 < s.hashrate < 4 * 101e6
    assert (s.algorithm, s.coin) == ("etchash", "ETC")
    assert len(s.hashboards) == 4
    for b in s.hashboards:
        assert (b.kind, b.name, b.software, b.ok) == ("gpu", "RTX 3080", "T-Rex 0.26.8", True)
        assert b.temp_chip and b.temp_mem and b.power_w and b.clock_core_mhz and b.clock_mem_mhz
        assert b.fan_pct and b.accepted
    assert s.power_w == sum(b.power_w or 0 for b in s.hashboards)
    assert s.pools[0].url == sim.pools[0] and s.pools[0].alive and s.pools[0].accepted > 0
    assert s.uptime_s == sim.uptime(sim.clock())
    c = snap.config
    assert (c.make, c.firmware, c.software) == ("T-Rex", "0.26.8", "T-Rex 0.26.8")


async def test_dual_mining_and_the_old_version() -> None:
    async with rig(2, cards=("RTX 3070",) * 2, algos=(ETCHASH, AUTOLYKOS2)) as (_, drv):
        dual = (await collect(drv)).stats
    assert [(x.algorithm, x.coin) for x in dual.streams] == [("etchash", "ETC"),
                                                             ("autolykos2", "ERG")]  # fmt: skip
    assert dual.streams[1].hashrate is not None and dual.streams[1].hashrate > 150e6
    assert len(dual.pools) == 2
    async with rig(3, version="0.19.14", algos=(KAWPOW,)) as (_, drv):
        snap = await collect(drv)
    old = snap.stats
    assert old.algorithm == "kawpow" and snap.config.firmware == "0.19.14"
    assert all(b.temp_mem is None and b.clock_core_mhz is None for b in old.hashboards)
    assert len(old.streams) == 1 and old.errors == []


async def test_transport_faults() -> None:
    async with rig(4, short=True) as (sim, drv):
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
    async with rig(5, clock, cards=("RTX 3080",) * 3) as (sim, drv):
        sim.set_fault("overheat")
        hot = (await collect(drv)).stats
        sim.set_fault("dead_board")
        dead = (await collect(drv)).stats
        sim.set_fault("pool_down")
        down = (await collect(drv)).stats
        clock.t += 300
        later = (await collect(drv)).stats
    assert hot.errors == ["ERR_OVERHEAT"] and hot.temp_max is not None and hot.temp_max > 90
    assert hot.hashrate is not None and hot.hashrate < 3 * 0.75 * 97.5e6
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in dead.hashboards] == [True, True, False]
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert not down.pools[0].alive
    assert later.pools[0].accepted == down.pools[0].accepted


async def test_pause_and_resume() -> None:
    async with rig(6) as (sim, drv):
        await asyncio.wait_for(drv.pause(), WAIT)
        paused = (await collect(drv)).stats
        assert sim.paused
        await asyncio.wait_for(drv.resume(), WAIT)
        resumed = (await collect(drv)).stats
    assert paused.status == "sleeping" and paused.hashrate == 0 and paused.errors == []
    assert resumed.status == "online" and resumed.hashrate and not sim.paused


async def test_set_pools_and_config() -> None:
    async with rig(7) as (sim, drv):
        pools = [
            PoolTarget(url="stratum+tcp://new.pool.example.net:3333", user="0xabc"),
            PoolTarget(url="stratum+tcp://backup.pool.example.net:3333", user="0xabc"),
        ]
        await asyncio.wait_for(drv.set_pools(pools), WAIT)
        s = (await collect(drv)).stats
        await asyncio.wait_for(drv.set_config({"intensity": 20}), WAIT)
        with pytest.raises(DeviceCommandFailed):
            await asyncio.wait_for(drv.set_config({"pools": "nowhere"}), WAIT)
    assert sim.pools == [p.url for p in pools]
    assert (s.pools[0].url, s.pools[0].user) == (pools[0].url, "0xabc")
    assert sim.extra["intensity"] == 20 and sim.config()["intensity"] == 20


async def test_api_password_gives_a_session_id() -> None:
    async with rig(8, password="hunter2") as (sim, drv):
        assert (await collect(drv)).stats.hashrate
        assert drv.sid in sim.sids
        sim.sids.clear()  # T-Rex restarted: the old session id is refused, log in again
        await asyncio.wait_for(drv.pause(), WAIT)
        assert sim.paused and drv.sid in sim.sids
    async with rig(9, password="hunter2", login="wrong") as (_, drv):
        with pytest.raises(DeviceCommandFailed):
            await collect(drv)
    async with rig(10, password="hunter2", login="") as (_, drv):
        with pytest.raises(DeviceCommandFailed) as info:
            await collect(drv)
        assert info.value.details["http_status"] == 403


def test_family_plugin_builds_nvidia_rigs_only() -> None:
    for seed, model in enumerate((*FAMILY.models, None, None, None)):
        sim = FAMILY.create("127.95.2.200", seed=seed, clock=FakeClock(), model=model)
        assert isinstance(sim, TrexSim)
        assert all(c.vendor == "nvidia" for c in sim.rig.cards)
    with pytest.raises(ValueError):
        TrexSim("127.95.2.201", cards=("RX 6600",))
