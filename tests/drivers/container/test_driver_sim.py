"""ContainerDriver against simulated containers on loopback (127.97.3.x, port 502): polls,
physics over time, faults, and the cooling/set-point controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import (
    DeviceCommandFailed,
    DeviceOffline,
    DeviceReplyInvalid,
    DeviceTimeout,
)
from hashfleet.drivers.base import parse_options
from hashfleet.drivers.container.driver import ContainerDriver
from hashfleet.model.devices import CoolingReadings
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.container import FAMILY, ContainerSim
from hashfleet.sim.modbus import ModbusHost

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_763_900_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def containers(block: int, models: list[str], clock: FakeClock | None = None
                     ) -> AsyncIterator[list[ContainerSim]]:  # fmt: skip
    host = ModbusHost()
    sims = [ContainerSim(f"127.97.3.{block * 8 + i + 1}", model=m, seed=block * 8 + i,
                         clock=clock or FakeClock()) for i, m in enumerate(models)]  # fmt: skip
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(host.close(), WAIT)


@asynccontextmanager
async def driver(sim: ContainerSim, timeout: float = 3.0) -> AsyncIterator[ContainerDriver]:
    drv = ContainerDriver(parse_options({**sim.thing_opts(), "timeout": timeout}))
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: ContainerDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def cooling(drv: ContainerDriver) -> CoolingReadings:
    c = (await collect(drv)).stats.cooling
    assert c is not None
    return c


async def test_poll_every_preset() -> None:
    async with containers(0, list(FAMILY.models)) as sims:
        for sim in sims:
            async with driver(sim) as drv:
                snap = await collect(drv)
            c, now = snap.stats.cooling, sim.clock()
            supply, ret = sim.temps(now)
            assert c is not None and snap.stats.errors == [] and c.alarms == []
            assert c.supply_temp_c == pytest.approx(supply, abs=0.06)
            assert c.return_temp_c == pytest.approx(ret, abs=0.06)
            assert c.flow_lpm == pytest.approx(sim.flow_lpm(now), rel=0.01)
            assert (c.cooling_on, c.setpoint_c) == (True, sim.preset.setpoint_c)
            assert len(c.pumps) == 2 and all(p.running and not p.fault for p in c.pumps)
            assert snap.stats.power_w is not None and snap.stats.power_w > sim.preset.load_kw * 900
            assert snap.config.firmware == "{}.{}".format(*sim.preset.firmware)


async def test_cooling_off_heats_until_alarm_and_on_recovers() -> None:
    clock = FakeClock()
    async with containers(1, ["Hydro 40ft (1 MW)"], clock) as (sim,), driver(sim) as drv:
        before = await cooling(drv)
        await asyncio.wait_for(drv.set_cooling(False), WAIT)
        assert sim.cooling is False
        c = await cooling(drv)
        assert c.cooling_on is False and all(not f.running for f in c.fans)
        clock.t += 600.0  # ten minutes without dry coolers
        hot = await cooling(drv)
        assert (hot.supply_temp_c or 0) > (before.supply_temp_c or 0) + 8.0
        clock.t += 1800.0
        s = (await collect(drv)).stats
        assert "ALARM_HIGH_TEMP" in s.errors and "ERR_OVERHEAT" in s.errors
        await asyncio.wait_for(drv.set_cooling(True), WAIT)
        clock.t += 3600.0
        cooled = await cooling(drv)
        assert cooled.cooling_on is True and cooled.alarms == []
        assert cooled.supply_temp_c == pytest.approx(sim.setpoint, abs=1.0)


async def test_setpoint_moves_the_loop() -> None:
    async with containers(2, ["Immersion 20ft (300 kW)"]) as (sim,), driver(sim) as drv:
        await asyncio.wait_for(drv.set_setpoint(45.5), WAIT)
        assert sim.setpoint == 45.5
        c = await cooling(drv)
        assert c.setpoint_c == 45.5 and c.supply_temp_c == pytest.approx(45.5, abs=0.5)
        for bad in (9.9, 60.1, float("nan")):
            with pytest.raises(ValueError):
                await drv.set_setpoint(bad)
        assert sim.setpoint == 45.5
        # the controller itself refuses values out of range (exception 3) …
        with pytest.raises(DeviceCommandFailed) as info:
            await drv.client.request(6, 0, value=[700])
        assert info.value.details["exception_code"] == 3
        # … and every write while its switch is on "local" (exception 4)
        sim.remote = False
        for control in (drv.set_cooling(False), drv.set_setpoint(30.0)):
            with pytest.raises(DeviceCommandFailed) as info:
                await asyncio.wait_for(control, WAIT)
            assert info.value.details["exception_code"] == 4
        assert (sim.cooling, sim.setpoint) == (True, 45.5)
        assert (await cooling(drv)).setpoint_c == 45.5  # the connection is still usable


async def test_content_faults() -> None:
    async with containers(3, ["Hydro 40ft (1 MW)"]) as (sim,), driver(sim) as drv:
        sim.set_fault("overheat")
        s = (await collect(drv)).stats
        assert s.errors == ["ALARM_HIGH_TEMP", "ERR_OVERHEAT"]
        assert s.temp_max is not None and s.temp_max > 65.0
        sim.set_fault("dead_board")
        s = (await collect(drv)).stats
        assert s.cooling is not None
        assert s.errors == ["ALARM_LOW_FLOW", "ALARM_PUMP_FAULT"]
        assert [(p.running, p.fault) for p in s.cooling.pumps] == [(True, False), (False, True)]


async def test_transport_faults() -> None:
    async with containers(4, ["Hydro 40ft (1 MW)"]) as (sim,), driver(sim, timeout=1.0) as drv:
        for fault, error in (("garbage", DeviceReplyInvalid), ("hang", DeviceTimeout),
                             ("refuse", DeviceOffline)):  # fmt: skip
            sim.set_fault(fault)
            with pytest.raises(error):
                await collect(drv)
            with pytest.raises(error):
                await asyncio.wait_for(drv.set_cooling(False), WAIT)
        sim.set_fault("none")
        assert sim.cooling is True
        assert (await cooling(drv)).cooling_on is True
