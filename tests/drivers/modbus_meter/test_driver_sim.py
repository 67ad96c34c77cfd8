"""ModbusMeterDriver against simulated SDM630s on loopback (127.97.1.x, port 502):
polls, firmware without per-phase energy, transport faults, phase loss, bad params."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hashfleet.core.errors import BadRequest, DeviceOffline, DeviceReplyInvalid, DeviceTimeout
from hashfleet.drivers.base import DriverOptions, parse_options
from hashfleet.drivers.modbus_meter.driver import ModbusMeterDriver
from hashfleet.drivers.modbus_meter.parse import ERR_PHASE_LOSS
from hashfleet.model.snapshot import Snapshot
from hashfleet.sim.modbus import ModbusHost
from hashfleet.sim.modbus_meter import FAMILY, MeterSim

WAIT = 10.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = 1_763_900_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def meters(block: int, models: list[str], clock: FakeClock | None = None,
                 unit_id: int = 1) -> AsyncIterator[list[MeterSim]]:  # fmt: skip
    host = ModbusHost()
    sims = [
        MeterSim(
            f"127.97.1.{block * 8 + i + 1}",
            model=m,
            seed=block * 8 + i,
            clock=clock or FakeClock(),
            unit_id=unit_id,
        )
        for i, m in enumerate(models)
    ]
    try:
        for sim in sims:
            await asyncio.wait_for(host.add(sim), WAIT)
        yield sims
    finally:
        await asyncio.wait_for(host.close(), WAIT)


@asynccontextmanager
async def driver(
    sim: MeterSim, timeout: float = 3.0, **params: object
) -> AsyncIterator[ModbusMeterDriver]:
    opts = parse_options({**sim.thing_opts(), "timeout": timeout})
    opts.params.update(params)
    drv = ModbusMeterDriver(opts)
    try:
        yield drv
    finally:
        await drv.close()


async def collect(drv: ModbusMeterDriver) -> Snapshot:
    return await asyncio.wait_for(drv.collect(), WAIT)


async def test_poll_every_preset() -> None:
    async with meters(0, list(FAMILY.models)) as sims:
        for sim in sims:
            async with driver(sim) as drv:
                snap = await collect(drv)
            m = snap.stats.meter
            assert m is not None and snap.stats.power_w == m.power_w
            assert m.power_w == pytest.approx(sim.power_w(sim.clock()), rel=1e-4)
            assert m.energy_kwh == pytest.approx(sim.energy_kwh(sim.clock()), rel=1e-6)
            assert len(m.phases) == 3 and snap.stats.errors == []
            assert all(226.0 <= (p.voltage_v or 0) <= 234.6 for p in m.phases)
            has_phase_energy = sim.preset.phase_energy
            assert all((p.energy_kwh is not None) is has_phase_energy for p in m.phases)


async def test_energy_grows_and_old_firmware_is_asked_once() -> None:
    clock = FakeClock()
    async with meters(1, ["SDM630 v1 (45 kW)"], clock) as (sim,), driver(sim) as drv:
        first = (await collect(drv)).stats.meter
        asked = sim.requests
        clock.t += 3600.0
        second = (await collect(drv)).stats.meter
        assert sim.requests == asked + 1  # the missing block is not asked again
    assert first is not None and second is not None
    assert (second.energy_kwh or 0) - (first.energy_kwh or 0) == pytest.approx(45.0, rel=1e-3)


async def test_refuse_hang_garbage_then_recover() -> None:
    async with meters(2, ["SDM630 v2 (30 kW)"]) as (sim,), driver(sim, timeout=1.0) as drv:
        await collect(drv)
        sim.set_fault("refuse")
        with pytest.raises(DeviceOffline):
            await collect(drv)
        sim.set_fault("hang")
        with pytest.raises(DeviceTimeout):
            await collect(drv)
        sim.set_fault("garbage")
        with pytest.raises(DeviceReplyInvalid):
            await collect(drv)
        sim.set_fault("none")
        assert (await collect(drv)).stats.meter is not None


async def test_dead_board_is_a_lost_phase() -> None:
    async with meters(3, ["SDM630 v2 (30 kW)"]) as (sim,):
        sim.set_fault("dead_board")
        async with driver(sim) as drv:
            snap = await collect(drv)
        m = snap.stats.meter
        assert m is not None and m.phases[2].voltage_v == 0.0
        assert snap.stats.errors == [ERR_PHASE_LOSS]
        assert m.power_w == pytest.approx(sim.power_w(sim.clock()), rel=1e-4)


async def test_unit_id_must_match() -> None:
    async with meters(4, ["SDM630 v2 (30 kW)"], unit_id=7) as (sim,):
        async with driver(sim) as drv:
            assert (await collect(drv)).stats.meter is not None
        async with driver(sim, unit_id=3) as drv:
            with pytest.raises(Exception) as info:
                await collect(drv)
            assert getattr(info.value, "code", "") == "ERR_DEVICE_COMMAND_FAILED"
            assert info.value.details["exception_code"] == 11  # type: ignore[attr-defined]


async def test_word_swapped_gateway_needs_the_param() -> None:
    host = ModbusHost()
    sim = MeterSim("127.97.1.60", seed=60, clock=FakeClock(), word_order="little")
    await asyncio.wait_for(host.add(sim), WAIT)
    try:
        assert sim.thing_opts()["params"] == {"unit_id": 1, "map": "sdm630", "word_order": "little"}
        async with driver(sim) as drv:
            m = (await collect(drv)).stats.meter
        assert m is not None and m.power_w == pytest.approx(sim.power_w(sim.clock()), rel=1e-4)
        async with driver(sim, word_order="big") as drv:  # read as if high word first
            try:
                wrong = (await collect(drv)).stats.power_w
            except DeviceReplyInvalid:  # some swapped pairs are NaN or infinite
                wrong = None
        assert wrong != pytest.approx(sim.power_w(sim.clock()), rel=0.5)
        assert sim.info()["power_w"] == round(sim.power_w(sim.clock()), 1)
    finally:
        await asyncio.wait_for(host.close(), WAIT)


async def test_nothing_listening_is_offline() -> None:
    opts = DriverOptions(family="modbus_meter", address="127.97.1.250", timeout=0.5)
    drv = ModbusMeterDriver(opts)
    with pytest.raises(DeviceOffline):
        await collect(drv)
    await drv.close()


def test_bad_params_are_rejected() -> None:
    for params in ({"map": "nope"}, {"unit_id": 300}, {"unit_id": "1"}, {"word_order": "mid"}):
        with pytest.raises(BadRequest):
            ModbusMeterDriver(DriverOptions(family="modbus_meter", address="127.0.0.1",
                                            params=params))  # fmt: skip
