"""pyasic, unchanged, identifies the simulated IceRivers (web panel on port 80) as their
models and reads hashrate, boards, fans, uptime and pools through the session login.

pyasic reads no wattage for IceRiver (the panel does not report power) and no temperature
beyond the boards' inlet/outlet ones. Addresses: 127.93.10.x; port 80 needs root.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest

from hashfleet.sim.http import HttpSimServer
from hashfleet.sim.iceriver import IceRiverSim

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

WAIT = 15.0
MODELS = [("KS0", "IceRiverKS0", 1, 1), ("KS3M", "IceRiverKS3M", 3, 4),
          ("KS5L", "IceRiverKS5L", 3, 4)]  # fmt: skip


async def test_pyasic_identifies_and_reads_the_simulated_iceriver() -> None:
    server = HttpSimServer()
    sims = [IceRiverSim(f"127.93.10.{i + 1}", model=m, seed=i) for i, (m, *_) in enumerate(MODELS)]
    try:
        for sim in sims:
            try:
                await asyncio.wait_for(server.add(sim), WAIT)
            except PermissionError:
                pytest.skip("no permission to bind port 80")
        for sim, (model, cls, boards, fans) in zip(sims, MODELS, strict=True):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Unknown chip count")  # KS0
                warnings.filterwarnings("error", message="Partially supported miner")
                miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
            assert miner is not None and type(miner).__name__ == cls
            assert miner.raw_model == model
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyasic knows no chip count for the KS0
                data = await asyncio.wait_for(miner.get_data(), WAIT)
            assert (data.make, data.model) == ("IceRiver", model)
            assert data.hashrate is not None and float(data.hashrate) > 0
            filled = [hb for hb in data.hashboards if hb.hashrate is not None]
            assert len(filled) == boards  # pyasic expects 3 boards even on the 1-board KS0
            assert all(hb.temp and hb.chip_temp and hb.chips for hb in filled)
            assert len(data.fans) == fans and all(f.speed for f in data.fans)
            assert data.pools and data.pools[0].active and data.pools[0].alive
            assert data.uptime is not None and data.uptime > 0
            assert data.hostname == sim.host and data.mac == sim.mac.upper().replace("-", ":")
            assert data.is_mining is True and data.fault_light is False
            assert data.wattage is None  # not reported by the panel
            assert await asyncio.wait_for(miner.fault_light_on(), WAIT)
            assert sim.locate
    finally:
        await asyncio.wait_for(server.close(), WAIT)
