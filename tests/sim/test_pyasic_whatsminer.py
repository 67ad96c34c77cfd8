"""pyasic, unchanged, identifies the simulated Whatsminers as their models and reads hashrate,
board temperatures, fans, wattage and pools from them; its encrypted API 2.x writes (token,
md5-crypt, AES-256-ECB) and signed API 3 writes work against the simulator.

M30S+ and M50S firmware is older than 2024.11, so pyasic picks its API 2.x backend (TCP
4028; boards from ``devs``). The M60's firmware is 20241202, so pyasic picks its API 3
backend (TCP 4433). pyasic 0.79's API 3 backend reads the pools from the ``summary`` reply
of ``get.miner.status``, which carries no pools (they come with param ``pools``), so its
pool list stays empty for the M60; and it has no chip temperature per board there.
Addresses: 127.92.2.x.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest

from hashfleet.sim.whatsminer import WhatsminerHost, WhatsminerSim

pyasic = pytest.importorskip("pyasic", reason="pyasic is not installed (dev extra)")

WAIT = 15.0
PRESETS = [
    ("M30S+", "BTMinerM30SPlusV10", "M30S+ V10", "BTMinerV2"),
    ("M50S", "BTMinerM50SVH20", "M50S VH20", "BTMinerV2"),
    ("M60", "BTMinerM60VK10", "M60 VK10", "BTMinerV3"),
]


async def test_pyasic_identifies_and_reads_the_simulated_whatsminers() -> None:
    host = WhatsminerHost()
    sims = [
        WhatsminerSim(f"127.92.2.{i + 1}", model=m, seed=i) for i, (m, *_) in enumerate(PRESETS)
    ]
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        for sim, (_, cls, model, backend) in zip(sims, PRESETS, strict=True):
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message="Partially supported miner")
                miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
            assert miner is not None and type(miner).__name__ == cls
            assert backend in [b.__name__ for b in type(miner).__mro__]
            data = await asyncio.wait_for(miner.get_data(), WAIT)
            assert (data.make, data.model) == ("WhatsMiner", model)
            nominal = sim.preset.hashrate_ths
            assert (
                data.hashrate is not None and 0.95 * nominal < float(data.hashrate) < 1.05 * nominal
            )
            assert data.wattage and data.wattage > 0.9 * sim.preset.power_w
            assert data.wattage_limit == sim.power_limit
            assert len(data.hashboards) == 3
            assert all(hb.hashrate and hb.temp and hb.chips for hb in data.hashboards)
            assert len(data.fans) == 2 and all(f.speed for f in data.fans)
            assert data.mac == sim.mac and data.fw_ver == sim.preset.firmware
            assert data.uptime is not None and data.uptime > 0
            if backend == "BTMinerV2":
                assert all(hb.chip_temp for hb in data.hashboards)
                assert data.pools and data.pools[0].active and data.pools[0].alive
                # pyasic's encrypted writes: token, md5-crypt key, AES-256-ECB both ways.
                assert await asyncio.wait_for(miner.fault_light_on(), WAIT) and sim.led == "red"
                assert await asyncio.wait_for(miner.stop_mining(), WAIT) and sim.off
                assert await asyncio.wait_for(miner.resume_mining(), WAIT) and not sim.off
            else:
                assert data.pools == []  # see the module docstring
            assert await asyncio.wait_for(miner.reboot(), WAIT) and sim.reboots == 1
    finally:
        await asyncio.wait_for(host.close(), WAIT)


async def test_pyasic_sees_the_content_faults() -> None:
    host = WhatsminerHost()
    sim = WhatsminerSim("127.92.2.9", model="M30S+", seed=9)
    try:
        await asyncio.wait_for(host.add(sim), WAIT)
        miner = await asyncio.wait_for(pyasic.get_miner(sim.address), WAIT)
        sim.set_fault("overheat")
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert {e.error_code for e in data.errors} >= {350, 351, 352}
        sim.set_fault("dead_board")
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert [float(hb.hashrate or 0) for hb in data.hashboards].count(0.0) == 1
        sim.set_fault("pool_down")
        data = await asyncio.wait_for(miner.get_data(), WAIT)
        assert data.pools and not any(p.alive for p in data.pools)
    finally:
        await asyncio.wait_for(host.close(), WAIT)
