"""pyasic, unchanged, identifies the simulated Braiins OS, LuxOS and VNish miners as the
right firmware class and model, and ``get_data()`` reads hashrate, temperatures, fans,
wattage and pools from them.

pyasic reads Braiins OS on S19-family models through BOSer's gRPC API (port 50051), which is
not simulated: for those it identifies class and model and reads hashrate, uptime and tuner
errors from the cgminer API only.
Addresses: 127.94.9.x.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from hashfleet.sim.braiins import BraiinsSim
from hashfleet.sim.cgminer_family import CgminerHost
from hashfleet.sim.luxos import LuxosSim
from hashfleet.sim.vnish import VnishHost, VnishSim

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

WAIT = 15.0
BOSER_RPC_FIELDS = ["hashrate", "uptime", "errors", "api_ver"]
CASES = [
    (BraiinsSim, "Antminer S19j Pro", "BOSMinerS19jPro"),
    (BraiinsSim, "Antminer S19 XP", "BOSMinerS19XP"),
    (LuxosSim, "Antminer S19j Pro", "LUXMinerS19jPro"),
    (LuxosSim, "Antminer S21", "LUXMinerS21"),
    (VnishSim, "Antminer S19 Pro", "VNishS19Pro"),
    (VnishSim, "Antminer S19k Pro", "VNishS19kPro"),
]


@pytest.mark.parametrize(("cls", "model", "expected"), CASES)
async def test_pyasic_identifies_and_reads(cls: Any, model: str, expected: str) -> None:
    n = CASES.index((cls, model, expected)) + 1
    address = f"127.94.9.{n}"
    sim = cls(address, model=model, seed=n)
    host: Any = VnishHost() if cls is VnishSim else CgminerHost()
    await asyncio.wait_for(host.add(sim), WAIT)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Partially supported miner")
            miner = await asyncio.wait_for(pyasic.get_miner(address), WAIT)
        assert miner is not None
        assert type(miner).__name__ == expected
        assert miner.raw_model == model.removeprefix("Antminer ")
        if cls is BraiinsSim:
            # pyasic's S19-family Braiins classes are BOSer ones: boards, fans, power, pools
            # and MAC come from gRPC on port 50051 (not simulated: a refused connection
            # escapes get_data); only hashrate, uptime and errors come from the cgminer API.
            data = await asyncio.wait_for(miner.get_data(include=BOSER_RPC_FIELDS), WAIT)
            assert data.hashrate is not None and float(data.hashrate) > 0
            assert data.uptime is not None and data.uptime > 0
            return
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert data.hashrate is not None and float(data.hashrate) > 0
        boards = data.hashboards
        assert len(boards) == 3 and all(hb.temp and hb.chip_temp for hb in boards)
        assert [f.speed for f in data.fans if f.speed]
        assert data.wattage is not None and data.wattage > 0
        assert data.pools and data.pools[0].alive
        assert data.uptime is not None and data.uptime > 0
    finally:
        await asyncio.wait_for(host.close(), WAIT)
