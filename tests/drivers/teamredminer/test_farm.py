"""A Farm with the three GPU families of this helper (127.96.5.x): every model variant
starts, and a driver built from each device's ``thing_opts()`` polls it."""

from __future__ import annotations

import asyncio
from typing import Any

from hashfleet.drivers.base import parse_options
from hashfleet.drivers.bzminer.driver import BzminerDriver
from hashfleet.drivers.srbminer.driver import SrbminerDriver
from hashfleet.drivers.teamredminer.driver import TeamRedMinerDriver
from hashfleet.sim import registry
from hashfleet.sim.farm import Farm

WAIT = 15.0
DRIVERS: dict[str, Any] = {"bzminer": BzminerDriver, "srbminer": SrbminerDriver,
                           "teamredminer": TeamRedMinerDriver}  # fmt: skip


async def test_farm_of_every_variant_polls() -> None:
    for family in DRIVERS:
        registry.register(family, f"hashfleet.sim.{family}:FAMILY")
    farm = Farm(antminers=0, xmrigs=0, mix={f: 2 for f in DRIVERS}, ip_base="127.96.5.1",
                web_ui=False)  # fmt: skip
    await asyncio.wait_for(farm.start(), WAIT)
    try:
        seen: set[tuple[str, str | None]] = set()
        for dev in farm.devices:
            drv = DRIVERS[dev.family](parse_options(dev.sim.thing_opts()))
            try:
                snap = await asyncio.wait_for(drv.collect(), WAIT)
            finally:
                await drv.close()
            assert snap.stats.status == "online", dev.address
            assert snap.stats.hashrate is not None and snap.stats.hashrate > 0
            seen.add((dev.family, snap.config.firmware))
    finally:
        await asyncio.wait_for(farm.stop(), WAIT)
    assert len(seen) == 6  # two versions of each family
