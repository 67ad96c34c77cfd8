"""pyasic, unchanged, identifies the simulated Avalons as their models and reads hashrate,
board temperatures, fans, wattage and pools from them (JSON cgminer API on 4028).

pyasic 0.79 knows the 1246 and the Nano 3. It has no class for the 1366: it says "partially
supported" and returns its generic ``AvalonUnknown``, which still reads hashrate, wattage
and pools but no boards or fans (it does not know how many to expect). pyasic reads the
Nano 3's MAC from a web API on port 80 that the simulator does not serve, so it stays None.
Addresses: 127.93.9.x.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest

from hashfleet.sim.avalon import AvalonHost, AvalonSim

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

WAIT = 15.0
KNOWN = [("Avalon 1246", "CGMinerAvalon1246", 3, 4), ("Avalon Nano 3", "CGMinerAvalonNano3", 1, 1)]


async def test_pyasic_identifies_and_reads_the_simulated_avalons() -> None:
    host = AvalonHost()
    sims = [AvalonSim(f"127.93.9.{i + 1}", model=m, seed=i) for i, (m, *_) in enumerate(KNOWN)]
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        for sim, (model, cls, boards, fans) in zip(sims, KNOWN, strict=True):
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message="Partially supported miner")
                miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
            assert miner is not None and type(miner).__name__ == cls
            assert miner.raw_model == model
            data = await asyncio.wait_for(miner.get_data(), WAIT)
            assert (data.make, data.model) == ("AvalonMiner", model)
            assert data.hashrate is not None and float(data.hashrate) > 0
            assert data.expected_hashrate is not None and float(data.expected_hashrate) > 0
            assert data.wattage and data.wattage > 0 and data.wattage_limit
            assert len(data.hashboards) == boards
            assert all(hb.hashrate and hb.temp and hb.chip_temp and hb.chips
                       for hb in data.hashboards)  # fmt: skip
            assert len(data.fans) == fans and all(f.speed for f in data.fans)
            assert data.pools and data.pools[0].active and data.pools[0].alive
            assert data.uptime is not None and data.uptime > 0
            assert data.fw_ver == "4.11.1"
            if model == "Avalon 1246":
                assert data.mac == ":".join(sim.mac[i : i + 2] for i in range(0, 12, 2)).upper()
                # pyasic's controls understand the simulator's ascset and restart replies.
                assert await asyncio.wait_for(miner.fault_light_on(), WAIT) and sim.led
                assert await asyncio.wait_for(miner.stop_mining(), WAIT)
                assert [off for _, off in sim.switches] == [True]  # due 5 s from now
                assert await asyncio.wait_for(miner.reboot(), WAIT) and sim.reboots == 1
    finally:
        await asyncio.wait_for(host.close(), WAIT)


async def test_pyasic_reads_the_1366_it_does_not_know_generically() -> None:
    host = AvalonHost()
    sim = AvalonSim("127.93.9.9", model="Avalon 1366", seed=9)
    try:
        await asyncio.wait_for(host.add(sim), WAIT)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
        assert any("AVALONMINER 1366" in str(w.message) for w in caught)
        assert miner is not None and type(miner).__name__ == "AvalonUnknown"
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert data.hashrate is not None and float(data.hashrate) > 100e12 * 0.95
        assert data.wattage and data.wattage > 3000
        assert data.pools and data.pools[0].active
    finally:
        await asyncio.wait_for(host.close(), WAIT)
