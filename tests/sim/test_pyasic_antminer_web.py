"""pyasic, unchanged, sees what AntminerDriver did through the simulated stock web UI:
sleep (``is_mining`` False, from ``get_miner_conf.cgi``), the locate light (``fault_light``,
from ``get_blink_status.cgi``) and pools saved with ``set_miner_conf.cgi`` (pyasic reads
pools from the cgminer API, so this also shows the API follows the saved configuration).

Addresses: 127.91.1.x.
"""

from __future__ import annotations

import asyncio

import pytest

from hashfleet.drivers.antminer.driver import AntminerDriver
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.sim.antminer import AntminerSim
from hashfleet.sim.antminer_web import AntminerWeb

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

WAIT = 15.0


async def test_pyasic_sees_sleep_light_and_saved_pools() -> None:
    sim = AntminerSim("127.91.1.1", model="Antminer S21", seed=3)
    host = AntminerWeb()
    await asyncio.wait_for(sim.start(), WAIT)
    drv = AntminerDriver(DriverOptions(family="antminer", address=sim.address, timeout=3.0))
    try:
        try:
            await asyncio.wait_for(host.add(sim), WAIT)
        except PermissionError:
            pytest.skip("no permission to bind port 80")
        miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
        assert type(miner).__name__ == "BMMinerS21"
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert data.is_mining is True and data.fault_light is False

        wanted = [
            PoolTarget(url="stratum+tcp://pool.x:3333", user="acme.s21", password="x"),
            PoolTarget(url="stratum+tcp://pool.y:3333", user="acme.s21", password="x"),
        ]
        await asyncio.wait_for(drv.set_pools(wanted), WAIT)
        await asyncio.wait_for(drv.set_power_mode("sleep"), WAIT)
        await asyncio.wait_for(drv.set_led(True), WAIT)

        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert data.is_mining is False
        assert data.fault_light is True
        assert [p.url.host if p.url else None for p in data.pools] == ["pool.x", "pool.y"]
        assert data.hashrate is not None and float(data.hashrate) == 0
    finally:
        await drv.close()
        await asyncio.wait_for(host.close(), WAIT)
        await asyncio.wait_for(sim.stop(), WAIT)
