"""A simulated RS485 temperature/humidity sensor (XY-MD02 / SHT20 style) behind a Modbus TCP
gateway, one per hall, intake or outdoor spot.

Input registers (function 4): 0x0001 temperature x10 (signed int16, °C), 0x0002 relative
humidity x10 (%). Holding registers (function 3) 0x0101-0x0104 hold the device's settings
(bus address, baud-rate code, temperature and humidity corrections x10), as on the real
module. ``overheat`` reads a hot hall (≈48 °C, dry); ``dead_board`` is a broken probe,
which these modules report as 0x8000 in both value registers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from hashfleet.sim.base import Clock, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.modbus import MODBUS_PORT, ModbusHost, ModbusSim, Table, int16, uint16
from hashfleet.sim.registry import SimFamily

PROBE_FAILED = 0x8000
BAUD_9600 = 1


@dataclass(frozen=True, slots=True)
class Preset:
    """Where the sensor hangs: its typical temperature and humidity."""

    model: str
    temp_c: float
    humidity_pct: float
    swing_c: float


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("XY-MD02 (hall)", 31.0, 38.0, 3.0),
        Preset("XY-MD02 (intake)", 22.0, 55.0, 4.0),
        Preset("SHT20 (outdoor)", -4.0, 80.0, 6.0),
    )
}
DEFAULT_MODEL = "XY-MD02 (hall)"


class SensorSim(ModbusSim):
    """One simulated climate sensor."""

    family = "modbus_sensor"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = MODBUS_PORT,
        clock: Clock = time.time,
        unit_id: int = 1,
    ) -> None:
        """A sensor of ``model`` (a key of :data:`PRESETS`) answering unit ``unit_id``."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, seed=seed, clock=clock, port=port, unit_id=unit_id)
        self.preset = PRESETS[model]

    @property
    def model(self) -> str:
        """The preset name."""
        return self.preset.model

    def info(self) -> dict[str, object]:
        """State for the control endpoint: what the probe reads now."""
        now = self.clock()
        return {**super().info(), "temperature_c": self.temperature(now),
                "humidity_pct": self.humidity(now)}  # fmt: skip

    def temperature(self, now: float) -> float:
        """°C now (one decimal, as the device resolves)."""
        if self.faults.fault is Fault.OVERHEAT:
            return round(48.0 + 1.5 * wobble(self.seed, 2, now, 120.0), 1)
        p = self.preset
        return round(p.temp_c + p.swing_c * wobble(self.seed, 1, now, 1800.0), 1)

    def humidity(self, now: float) -> float:
        """% RH now; warmer air at the same water content is drier."""
        p = self.preset
        t = self.temperature(now)
        rh = p.humidity_pct - 1.5 * (t - p.temp_c) + 3.0 * wobble(self.seed, 3, now, 900.0)
        return round(max(2.0, min(99.0, rh)), 1)

    def registers(self, table: Table, now: float) -> Mapping[int, int]:
        """Values (input) or settings (holding)."""
        if table is Table.HOLDING:
            return {0x0101: self.unit_id, 0x0102: BAUD_9600, 0x0103: 0, 0x0104: 0}
        if table is not Table.INPUT:
            return {}
        if self.faults.fault is Fault.DEAD_BOARD:
            return {0x0001: PROBE_FAILED, 0x0002: PROBE_FAILED}
        return {
            0x0001: int16(self.temperature(now) * 10),
            0x0002: uint16(self.humidity(now) * 10),
        }


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> SensorSim:
    """One simulated sensor (the registry's factory)."""
    return SensorSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="modbus_sensor", models=tuple(PRESETS), create=create, host=ModbusHost)
