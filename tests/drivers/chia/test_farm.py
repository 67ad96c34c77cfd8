"""The chia family through the sim registry and a Farm, driven by its own thing_opts."""

from __future__ import annotations

import asyncio

from hashfleet.drivers.base import parse_options
from hashfleet.drivers.chia.driver import ChiaDriver as Driver
from hashfleet.sim import registry
from hashfleet.sim.farm import Farm

WAIT = 10.0


async def test_farm_devices_answer_their_driver() -> None:
    registry.register("chia", "hashfleet.sim.chia:FAMILY")
    farm = Farm(mix={"chia": 2}, ip_base="127.98.3.1")
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        models = set()
        for dev in farm.devices:
            drv = Driver(parse_options(dict(dev.sim.thing_opts())))
            try:
                snap = await asyncio.wait_for(drv.collect(), WAIT)
            finally:
                await drv.close()
            assert snap.stats.status == "online" and snap.stats.errors == []
            assert snap.stats.chia is not None
            models.add(dev.sim.model)
        assert len(models) == 2  # the farm cycles through the family's variants
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
