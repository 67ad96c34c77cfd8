"""LolminerDriver against simulated lolMiner rigs on loopback (127.95.1.x): polls of both
API shapes, dual mining, transport and content faults.

lolMiner's API is read-only, so there are no controls to test; pyasic does not support
GPU mining software, so there is no pyasic test for this family.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.common.http import HttpJsonClient
from hashfleet.drivers.lolminer.driver import LolminerDriver
from hashfleet.model.snapshot import MinerStats, Snapshot
from hashfleet.sim.gpu import AUTOLYKOS2, ETCHASH, KHEAVYHASH
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.lolminer import FAMILY, LolminerSim

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
) -> AsyncIterator[tuple[LolminerSim, LolminerDriver]]:
    sim = LolminerSim(f"127.95.1.{host}", seed=host, clock=clock or FakeClock(), **kw)
    server = HttpSimServer()
    await asyncio.wait_for(server.add(sim), WAIT)
    timeout = 0.3 if short else 3.0
    drv = LolminerDriver(DriverOptions(family="lolminer", address=sim.address, timeout=timeout))
    try:
        yield sim, drv
    finally:
        await drv.close()
        await asyncio.wait_for(server.close(), WAIT)


async def collect(drv: LolminerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


def check_rig(s: MinerStats, cards: Sequence[str]) -> None:
    assert s.status == "online" and s.errors == []
    assert [b.name for b in s.hashboards] == list(cards)
    for b in s.hashboards:
        assert b.kind == "gpu" and b.ok and b.hashrate and b.power_w and b.temp_chip
        assert b.fan_pct is not None and b.accepted is not None and b.accepted > 0


async def test_current_api_single_algorithm() -> None:
    cards = ("RX 6800 XT",) * 4
    async with rig(1, cards=cards, algos=(AUTOLYKOS2,)) as (sim, drv):
        snap = await collect(drv)
    s = snap.stats
    check_rig(s, ["AMD Radeon RX 6800 XT"] * 4)
    assert s.hashrate is not None and 4 * 170e6 < s.hashrate < 4 * 186e6
    assert (s.algorithm, s.coin) == ("autolykos2", "ERG")
    assert s.hashboards[0].software == "lolMiner 1.88"
    assert s.hashboards[0].clock_core_mhz and s.hashboards[0].clock_mem_mhz == 2150
    assert s.power_w == pytest.approx(sum(b.power_w or 0 for b in s.hashboards))
    assert s.uptime_s == sim.uptime(sim.clock())
    assert len(s.pools) == 1 and s.pools[0].alive and s.pools[0].accepted > 0
    assert [(x.algorithm, x.software) for x in s.streams] == [("autolykos2", "lolMiner 1.88")]
    assert (snap.config.make, snap.config.firmware) == ("lolMiner", "1.88")
    assert snap.config.software == "lolMiner 1.88"


async def test_dual_mining_gives_two_streams() -> None:
    async with rig(2, cards=("RTX 3080",) * 2, algos=(ETCHASH, KHEAVYHASH)) as (_, drv):
        s = (await collect(drv)).stats
    assert [x.algorithm for x in s.streams] == ["etchash", "kheavyhash"]
    assert [x.coin for x in s.streams] == ["ETC", "KAS"]
    etc, kas = s.streams
    assert etc.hashrate is not None and 2 * 85e6 < etc.hashrate < 2 * 95e6
    assert kas.hashrate is not None and 2 * 0.6e9 < kas.hashrate < 2 * 0.75e9
    assert s.hashrate == etc.hashrate and etc.power_w == s.power_w and kas.power_w is None
    assert [p.url for p in s.pools] == ["etc.pool.example.net:1010", "kas.pool.example.net:5555"]


async def test_legacy_api_of_lolminer_1_29() -> None:
    async with rig(3, version="1.29", cards=("RX 6600",) * 6) as (_, drv):
        snap = await collect(drv)
    s = snap.stats
    check_rig(s, ["AMD Radeon RX 6600"] * 6)
    assert s.hashrate is not None and 6 * 31e6 < s.hashrate < 6 * 33e6
    assert s.algorithm == "etchash" and snap.config.firmware == "1.29"
    assert s.hashboards[0].clock_core_mhz is None  # 1.2x did not report clocks


async def test_transport_faults() -> None:
    async with rig(4, short=True) as (sim, drv):
        await collect(drv)  # a kept-alive connection that "refuse" must cut too
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


async def test_overheat_throttles_and_is_flagged() -> None:
    async with rig(5, cards=("RTX 3080",) * 4) as (sim, drv):
        before = (await collect(drv)).stats
        sim.set_fault("overheat")
        hot = (await collect(drv)).stats
    assert hot.errors == ["ERR_OVERHEAT"]
    assert hot.temp_max is not None and hot.temp_max > 90
    assert all((b.temp_chip or 0) > 90 and b.fan_pct == 100 for b in hot.hashboards)
    assert before.hashrate and hot.hashrate and hot.hashrate < 0.75 * before.hashrate


async def test_dead_card_and_pool_down() -> None:
    clock = FakeClock()
    async with rig(6, clock, cards=("RTX 3070",) * 6) as (sim, drv):
        sim.set_fault("dead_board")
        dead = (await collect(drv)).stats
        sim.set_fault("pool_down")
        down = (await collect(drv)).stats
        clock.t += 600
        later = (await collect(drv)).stats
        sim.set_fault("none")
        clock.t += 600
        healed = (await collect(drv)).stats
    assert dead.errors == ["ERR_HASHBOARD_DEAD"]
    assert [b.ok for b in dead.hashboards] == [True] * 5 + [False]
    assert dead.hashboards[5].hashrate == 0.0
    assert down.errors == ["ERR_POOL_DOWN"] and down.hashrate == 0.0
    assert not down.pools[0].alive and all(b.ok for b in down.hashboards)
    assert later.pools[0].accepted == down.pools[0].accepted
    assert healed.errors == [] and healed.pools[0].accepted > later.pools[0].accepted


async def test_restart_resets_uptime_and_shares() -> None:
    clock = FakeClock()
    async with rig(7, clock) as (sim, drv):
        before = (await collect(drv)).stats
        sim.restart()
        clock.t += 5
        after = (await collect(drv)).stats
    assert before.uptime_s is not None and before.uptime_s > 3600
    assert after.uptime_s == 5 and after.pools[0].accepted == 0
    assert after.errors == []  # cards still building their DAG are not dead


async def test_only_the_summary_routes_exist() -> None:
    async with rig(8) as (sim, _):
        client = HttpJsonClient(f"http://{sim.address}:{sim.port}", 3.0)
        try:
            root = await asyncio.wait_for(client.request("GET", "/"), WAIT)
            assert root["Software"] == "lolMiner 1.88"
            with pytest.raises(DeviceCommandFailed):
                await asyncio.wait_for(client.request("POST", "/control", {"pause": 1}), WAIT)
        finally:
            await client.close()
    assert LolminerDriver.capabilities == frozenset()


def test_family_plugin_builds_every_model() -> None:
    for seed, model in enumerate((*FAMILY.models, None)):
        sim = FAMILY.create("127.95.1.200", seed=seed, clock=FakeClock(), model=model)
        assert isinstance(sim, LolminerSim) and sim.thing_opts()["family"] == "lolminer"
        assert sim.model.startswith("lolMiner ")
