"""A simulated hydro / immersion cooling container controller (a PLC on Modbus TCP, 502).

Register map (the controller's documented points):

* input registers (4): 0 supply °C x10 (int16), 1 return °C x10 (int16), 2 flow x10
  (L/min; firmware 1.x: m³/h), 3 pressure bar x100, 4-5 total power W (float, high word
  first), 6 alarm bits (0 high temperature, 1 low flow, 2 pump fault, 3 leak), 7-8 pump
  speed % x10, 9-12 dry-cooler fan speed % x10, 13 firmware (major x 256 + minor)
* holding registers (3/6/16): 0 supply set point °C x10 (10.0-60.0, else exception 3),
  1 high-temperature alarm threshold on the return line °C x10 (read-only)
* coils (1/5): 0 cooling on (pumps keep circulating when off; the dry coolers stop)
* discrete inputs (2): 0-1 pump running, 2-3 pump fault, 4-7 fan running, 8-11 fan fault

Physics, lazily from the clock: supply follows the set point while cooling is on; the
return line is supply + load / (flow x heat capacity); with cooling off both climb about
1 K/min until the alarm and beyond, and fall back exponentially once it is on again.
``overheat`` pushes supply above 60 °C (the high-temperature alarm); ``dead_board`` is a
tripped pump 2 (pump fault, half the flow, low-flow alarm). With ``remote`` False (the
panel's local/remote switch on "local") writes answer exception 4.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hashfleet.sim.base import Clock, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.modbus import (
    MODBUS_PORT,
    ExcCode,
    ModbusHost,
    ModbusSim,
    Table,
    int16,
    put_float,
    uint16,
)
from hashfleet.sim.registry import SimFamily

PUMPS, FANS = 2, 4
SETPOINT_MIN, SETPOINT_MAX = 10.0, 60.0
HIGH_TEMP_C = 65.0  # return-line alarm threshold
LOW_FLOW_RATIO = 0.7
HEAT_RATE = 1.0 / 60.0  # K/s with the dry coolers off
MAX_EXCESS = 45.0
RECOVERY_S = 240.0
ALARM_HIGH_TEMP, ALARM_LOW_FLOW, ALARM_PUMP_FAULT, ALARM_LEAK = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class Preset:
    """One container build."""

    model: str
    load_kw: float
    flow_lpm: float
    heat_kj_per_l_k: float  # water 4.186; dielectric oil about 1.7
    setpoint_c: float
    firmware: tuple[int, int]


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("Hydro 40ft (1 MW)", 900.0, 2400.0, 4.186, 35.0, (2, 3)),
        Preset("Immersion 20ft (300 kW)", 300.0, 1000.0, 1.7, 40.0, (1, 8)),
    )
}
DEFAULT_MODEL = "Hydro 40ft (1 MW)"


class ContainerSim(ModbusSim):
    """One simulated cooling container."""

    family = "container"

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
        """A container of ``model`` (a key of :data:`PRESETS`) answering unit ``unit_id``."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, seed=seed, clock=clock, port=port, unit_id=unit_id)
        self.preset = PRESETS[model]
        self.setpoint = self.preset.setpoint_c
        self.cooling = True
        self.remote = True
        self.leak = False
        self._excess0 = 0.0  # K above the set point when cooling last switched
        self._switched = clock()

    @property
    def model(self) -> str:
        """The preset name."""
        return self.preset.model

    def info(self) -> dict[str, object]:
        """State for the control endpoint: cooling, set point."""
        return {**super().info(), "cooling": self.cooling, "setpoint_c": self.setpoint}

    # -- physics ---------------------------------------------------------------------------

    def excess(self, now: float) -> float:
        """K the supply line is above the set point because cooling was off."""
        dt = max(0.0, now - self._switched)
        if not self.cooling:
            return min(MAX_EXCESS, self._excess0 + HEAT_RATE * dt)
        return self._excess0 * math.exp(-dt / RECOVERY_S)

    def set_cooling(self, on: bool) -> None:
        """Switch the dry coolers, keeping the temperature continuous."""
        now = self.clock()
        if on != self.cooling:
            self._excess0 = self.excess(now)
            self._switched = now
            self.cooling = on

    def pump_running(self, i: int) -> bool:
        """Pump ``i`` turns (pump 2 trips with ``dead_board``)."""
        return not (i == 1 and self.faults.fault is Fault.DEAD_BOARD)

    def load_kw(self, now: float) -> float:
        """Heat the miners put into the loop."""
        return self.preset.load_kw * (1.0 + 0.03 * wobble(self.seed, 1, now, 600.0))

    def flow_lpm(self, now: float) -> float:
        """Loop flow: nominal per running pump."""
        running = sum(self.pump_running(i) for i in range(PUMPS))
        return self.preset.flow_lpm * running / PUMPS * (1.0 + 0.02 * wobble(self.seed, 2, now))

    def temps(self, now: float) -> tuple[float, float]:
        """Supply and return temperatures."""
        supply = self.setpoint + 0.4 * wobble(self.seed, 3, now, 200.0) + self.excess(now)
        if self.faults.fault is Fault.OVERHEAT:
            supply = max(supply, 62.0 + wobble(self.seed, 4, now, 120.0))
        flow_ls = max(self.flow_lpm(now) / 60.0, 1e-3)
        return supply, supply + self.load_kw(now) / (flow_ls * self.preset.heat_kj_per_l_k)

    def alarms(self, now: float) -> int:
        """The alarm bitfield now."""
        _, ret = self.temps(now)
        bits = ALARM_HIGH_TEMP if ret >= HIGH_TEMP_C else 0
        if self.flow_lpm(now) < LOW_FLOW_RATIO * self.preset.flow_lpm:
            bits |= ALARM_LOW_FLOW
        if not all(self.pump_running(i) for i in range(PUMPS)):
            bits |= ALARM_PUMP_FAULT
        return bits | (ALARM_LEAK if self.leak else 0)

    def fan_pct(self, now: float) -> float:
        """Dry-cooler fan speed: 0 when off, else more the hotter the return line."""
        if not self.cooling:
            return 0.0
        _, ret = self.temps(now)
        return max(30.0, min(100.0, 30.0 + 4.0 * (ret - self.setpoint)))

    # -- Modbus ----------------------------------------------------------------------------

    def registers(self, table: Table, now: float) -> Mapping[int, int]:
        """Live values (input) or settings (holding)."""
        if table is Table.HOLDING:
            return {0: uint16(self.setpoint * 10), 1: uint16(HIGH_TEMP_C * 10)}
        if table is not Table.INPUT:
            return {}
        supply, ret = self.temps(now)
        flow = self.flow_lpm(now)
        major, minor = self.preset.firmware
        flow_reg = flow * 60.0 / 1000.0 if major < 2 else flow  # 1.x reports m³/h
        fan = self.fan_pct(now)
        aux_kw = 0.011 * flow + FANS * 7.5 * (fan / 100.0) ** 3  # pumps + dry-cooler fans
        bank = {
            0: int16(supply * 10),
            1: int16(ret * 10),
            2: uint16(flow_reg * 10),
            3: uint16((0.4 + 1.6 * (flow / self.preset.flow_lpm) ** 2) * 100),
            6: self.alarms(now),
            13: major * 256 + minor,
        }
        put_float(bank, 4, (self.load_kw(now) + aux_kw) * 1000.0)
        for i in range(PUMPS):
            pct = 80.0 + 2.0 * wobble(self.seed, 10 + i, now) if self.pump_running(i) else 0.0
            bank[7 + i] = uint16(pct * 10)
        for i in range(FANS):
            bank[9 + i] = uint16(fan * 10)
        return bank

    def bits(self, table: Table, now: float) -> Mapping[int, bool]:
        """Cooling coil, or pump/fan running and fault inputs."""
        if table is Table.COIL:
            return {0: self.cooling}
        if table is not Table.DISCRETE:
            return {}
        out: dict[int, bool] = {}
        for i in range(PUMPS):
            out[i] = self.pump_running(i)
            out[2 + i] = not self.pump_running(i)
        for i in range(FANS):
            out[4 + i] = self.cooling
            out[8 + i] = False
        return out

    def write_coil(self, address: int, value: bool) -> ExcCode | None:
        """Coil 0 switches cooling."""
        if address != 0:
            return ExcCode.ILLEGAL_ADDRESS
        if not self.remote:
            return ExcCode.DEVICE_FAILURE
        self.set_cooling(value)
        return None

    def write_registers(self, address: int, values: Sequence[int]) -> ExcCode | None:
        """Holding 0 is the set point x10; the alarm threshold is read-only."""
        if address != 0 or len(values) != 1:
            return ExcCode.ILLEGAL_ADDRESS
        if not self.remote:
            return ExcCode.DEVICE_FAILURE
        celsius = values[0] / 10.0
        if not SETPOINT_MIN <= celsius <= SETPOINT_MAX:
            return ExcCode.ILLEGAL_VALUE
        self.setpoint = celsius
        return None


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> ContainerSim:
    """One simulated container (the registry's factory)."""
    return ContainerSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="container", models=tuple(PRESETS), create=create, host=ModbusHost)
