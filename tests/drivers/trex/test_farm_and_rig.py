"""The three GPU families in a simulated farm (through the plug-in registries) and two GPU
programs of one machine read by the rig driver (127.95.4.x)."""

from __future__ import annotations

import asyncio

from hashfleet.drivers import registry as drivers
from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.gminer.driver import GminerDriver
from hashfleet.drivers.lolminer.driver import LolminerDriver
from hashfleet.drivers.registry import DriverFactory
from hashfleet.drivers.rig.driver import RigDriver
from hashfleet.drivers.trex.driver import TrexDriver
from hashfleet.sim import registry as sims
from hashfleet.sim.farm import Farm
from hashfleet.sim.gpu import ETCHASH, KHEAVYHASH
from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.lolminer import LolminerSim
from hashfleet.sim.trex import TrexSim

WAIT = 10.0
FAMILIES: dict[str, DriverFactory] = {
    "lolminer": LolminerDriver,
    "trex": TrexDriver,
    "gminer": GminerDriver,
}


def plug_in() -> None:
    # What the lead adds to the registries; registering again is harmless.
    for family, cls in FAMILIES.items():
        sims.register(family, f"hashfleet.sim.{family}:FAMILY")
        drivers.register(family, cls)


async def test_a_farm_of_gpu_programs_is_polled_through_the_registries() -> None:
    plug_in()
    farm = Farm(mix={"lolminer": 2, "trex": 2, "gminer": 2}, ip_base="127.95.4.10")
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        for dev in farm.devices:
            opts = dev.sim.thing_opts()
            drv = drivers.create_driver(DriverOptions(**opts, timeout=3.0))  # type: ignore[arg-type]
            try:
                snap = await asyncio.wait_for(drv.collect(), WAIT)
            finally:
                await drv.close()
            assert snap.stats.status == "online" and snap.stats.errors == [], dev.summary()
            assert snap.stats.hashrate and snap.stats.hashboards
            assert snap.config.software == dev.sim.model
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)


async def test_rig_driver_merges_two_gpu_programs_of_one_machine() -> None:
    plug_in()
    address = "127.95.4.1"
    server = HttpSimServer()
    trex = TrexSim(address, seed=1, cards=("RTX 3080",) * 2)
    lol = LolminerSim(address, seed=2, cards=("RX 6600",) * 3, algos=(ETCHASH, KHEAVYHASH))
    await asyncio.wait_for(server.add(trex), WAIT)
    await asyncio.wait_for(server.add(lol), WAIT)
    miners = [{"family": "trex", "port": trex.port}, {"family": "lolminer", "port": lol.port}]
    drv = RigDriver(
        DriverOptions(family="rig", address=address, timeout=3.0, params={"miners": miners})
    )
    try:
        snap = await asyncio.wait_for(drv.collect(), WAIT)
        await asyncio.wait_for(drv.pause(), WAIT)  # only T-Rex can pause
        assert trex.paused
    finally:
        await drv.close()
        await asyncio.wait_for(server.close(), WAIT)
    s = snap.stats
    assert [(x.software, x.algorithm) for x in s.streams] == [
        ("T-Rex 0.26.8", "etchash"),
        ("lolMiner 1.88", "etchash"),
        ("lolMiner 1.88", "kheavyhash"),
    ]
    assert [b.software for b in s.hashboards] == ["T-Rex 0.26.8"] * 2 + ["lolMiner 1.88"] * 3
    assert [b.index for b in s.hashboards] == list(range(5))
    assert s.hashrate == s.streams[0].hashrate and s.status == "online"
