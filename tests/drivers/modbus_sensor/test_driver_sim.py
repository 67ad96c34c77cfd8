"""ModbusSensorDriver against simulated sensors on loopback (127.97.2.x, port 502)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.modbus_sensor.driver import ModbusSensorDriver
from hashfleet.drivers.modbus_sensor.parse import ERR_SENSOR_FAULT
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.modbus import ModbusHost
from hashfleet.sim.modbus_sensor import FAMILY, SensorSim

WAIT = 10.0
T0 = 1_763_900_000.0


@asynccontextmanager
async def sensors(block: int, models: list[str]) -> AsyncIterator[list[SensorSim]]:
    host = ModbusHost()
    sims = [SensorSim(f"127.97.2.{block * 8 + i + 1}", model=m, seed=block * 8 + i,
                      clock=lambda: T0) for i, m in enumerate(models)]  # fmt: skip
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(host.close(), WAIT)


@asynccontextmanager
async def driver(sim: SensorSim, timeout: float = 3.0) -> AsyncIterator[ModbusSensorDriver]:
    drv = ModbusSensorDriver(parse_options({**sim.thing_opts(), "timeout": timeout}))
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: ModbusSensorDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_poll_every_preset() -> None:
    async with sensors(0, list(FAMILY.models)) as sims:
        for sim in sims:
            async with driver(sim) as drv:
                s = (await collect(drv)).stats
            env = s.environment
            assert env is not None and env.temperature_c == sim.temperature(T0)
            assert env.humidity_pct == sim.humidity(T0) and s.temp_max == env.temperature_c
            assert env.dew_point_c is not None and env.dew_point_c <= env.temperature_c
    assert any(sim.temperature(T0) < 0 for sim in sims)  # the outdoor one is below zero


async def test_overheat_and_broken_probe() -> None:
    async with sensors(1, ["XY-MD02 (hall)"]) as (sim,), driver(sim) as drv:
        sim.set_fault("overheat")
        s = (await collect(drv)).stats
        assert s.temp_max is not None and s.temp_max >= 45.0
        sim.set_fault("dead_board")
        s = (await collect(drv)).stats
        assert s.errors == [ERR_SENSOR_FAULT] and s.temp_max is None


async def test_transport_faults() -> None:
    async with sensors(2, ["XY-MD02 (hall)"]) as (sim,), driver(sim, timeout=1.0) as drv:
        for fault, error in (("garbage", DeviceReplyInvalid), ("hang", DeviceTimeout),
                             ("refuse", DeviceOffline)):  # fmt: skip
            sim.set_fault(fault)
            with pytest.raises(error):
                await collect(drv)
        sim.set_fault("none")
        assert (await collect(drv)).stats.environment is not None


async def test_port_is_configurable() -> None:
    host = ModbusHost()
    sim = SensorSim("127.97.2.40", seed=40, port=1502, unit_id=12, clock=lambda: T0)
    await asyncio.wait_for(host.add(sim), WAIT)
    try:
        opts = sim.thing_opts()
        assert (opts["port"], opts["params"]) == (1502, {"unit_id": 12})
        async with driver(sim) as drv:
            env = (await collect(drv)).stats.environment
        assert env is not None and env.temperature_c == sim.temperature(T0)
    finally:
        await asyncio.wait_for(host.close(), WAIT)
