"""pyasic, unchanged, identifies the simulated Antminers as their preset models and reads
hashrate, board temperatures, fans and pools from them.

Per-board data of S19/S21 stock firmware comes only from the web UI on port 80, which needs
root to bind; without it pyasic still identifies the miner and reads totals, fans and pools.
Addresses: 127.77.9.x.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest

from hashfleet.sim.antminer import AntminerSim
from hashfleet.sim.farm import Farm

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

MODELS = ["Antminer S19j Pro", "Antminer S19 Pro", "Antminer S21"]
CLASSES = ["BMMinerS19jPro", "BMMinerS19Pro", "BMMinerS21"]
WAIT = 15.0


async def test_pyasic_identifies_and_reads_the_simulated_antminers() -> None:
    farm = Farm(antminers=3, ip_base="127.77.9.1", models=MODELS)
    await asyncio.wait_for(farm.start(), WAIT)
    web = farm.devices[0].sim.listeners[-1].port == 80
    try:
        for dev, model, cls in zip(farm.devices, MODELS, CLASSES, strict=True):
            with warnings.catch_warnings():
                # An unknown model would only be "partially supported": make that fail.
                warnings.filterwarnings("error", message="Partially supported miner")
                miner = await asyncio.wait_for(pyasic.get_miner(dev.address), WAIT)
            assert miner is not None, f"pyasic did not recognise {dev.address}"
            assert type(miner).__name__ == cls
            assert miner.raw_model == model.removeprefix("Antminer ")
            data = await asyncio.wait_for(miner.get_data(), WAIT)
            assert (data.make, data.model) == ("AntMiner", model.removeprefix("Antminer "))
            assert data.hashrate is not None and float(data.hashrate) > 0
            assert data.expected_hashrate is not None and float(data.expected_hashrate) > 0
            assert [f.speed for f in data.fans if f.speed] and len(data.fans) == 4
            assert data.pools and data.pools[0].active and data.pools[0].alive
            assert data.uptime is not None and data.uptime > 0
            if web:
                assert [hb.missing for hb in data.hashboards] == [False, False, False]
                assert all(hb.temp and hb.chip_temp and hb.chips for hb in data.hashboards)
                assert isinstance(dev.sim, AntminerSim) and data.mac == dev.sim.mac
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
    if not web:
        pytest.skip("no permission to bind port 80: board temperatures not checked")
