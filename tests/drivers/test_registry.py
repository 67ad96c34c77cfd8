"""Every family is plugged in whole: a driver and a simulator, controls from the vocabulary,
and opts that registration accepts (127.89.8.x)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from hashfleet.drivers.base import CAPABILITIES, parse_options
from hashfleet.drivers.registry import BUILTIN, create_driver, driver_class, families
from hashfleet.sim.farm import Farm
from hashfleet.sim.registry import FARM_BUILT_IN, sim_families

# Families that are not one device on the wire: a rig is several programs on one machine.
NO_SIMULATOR = {"rig"}


def test_every_built_in_family_is_listed() -> None:
    assert set(BUILTIN) <= set(families())


@pytest.mark.parametrize("family", sorted(BUILTIN))
def test_capabilities_come_from_the_vocabulary_and_are_methods(family: str) -> None:
    cls = driver_class(family)
    assert cls.family == family
    assert cls.capabilities <= CAPABILITIES, cls.capabilities - CAPABILITIES
    for capability in cls.capabilities:
        method = getattr(cls, capability, None)
        assert method is not None and inspect.iscoroutinefunction(method), capability
    for name in ("collect", "close"):
        assert inspect.iscoroutinefunction(getattr(cls, name))


def test_every_family_has_a_simulator_and_every_simulator_a_driver() -> None:
    simulated = set(sim_families()) | set(FARM_BUILT_IN)
    assert set(BUILTIN) - NO_SIMULATOR == simulated


async def test_each_simulator_says_opts_its_driver_accepts() -> None:
    mix = dict.fromkeys(sim_families(), 1)
    farm = Farm(antminers=1, xmrigs=1, mix=mix, ip_base="127.89.8.1", web_ui=False)
    await asyncio.wait_for(farm.start(), 60)
    try:
        for dev in farm.devices:
            opts = dev.summary()["opts"]
            assert isinstance(opts, dict) and opts["family"] == dev.family
            driver = create_driver(parse_options(opts))  # what registerThing does
            try:
                snap = await asyncio.wait_for(driver.collect(), 20)
            finally:
                await driver.close()
            assert snap.stats.status in ("online", "sleeping"), (dev.family, snap.stats)
    finally:
        await asyncio.wait_for(farm.stop(), 30)
