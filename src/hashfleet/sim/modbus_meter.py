"""A simulated Eastron SDM630-style three-phase power meter behind a Modbus TCP gateway.

Input registers (function 4) hold IEEE 754 floats, high word first, at the SDM630
addresses: voltages 0x0000.., currents 0x0006.., active power 0x000C.., apparent and
reactive power, power factors 0x001E.., totals 0x0034 (W), frequency 0x0046, energy
0x0048 (import kWh), and per-phase import energy 0x015A.. on newer firmware ("v2"); the
older "v1" firmware answers exception 2 there, as early SDM630s do. Every address in the
documented blocks answers (reserved ones read 0.0), anything else is exception 2.

The meter feeds a few dozen miners: tens of kW drifting, 230 V ±2 %, imported energy
growing with power x time. ``dead_board`` is rendered as a lost phase (L3 at 0 V, 0 A),
the fault a meter itself can show; ``overheat``/``pool_down`` do not change a meter.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hashfleet.sim.base import Clock, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.modbus import MODBUS_PORT, ModbusHost, ModbusSim, Table, put_float
from hashfleet.sim.registry import SimFamily

NOMINAL_V = 230.0
DENSE_BLOCKS = ((0x0000, 0x0050), (0x0156, 0x0160))  # documented register ranges
PHASE_ENERGY = 0x015A


@dataclass(frozen=True, slots=True)
class Preset:
    """One meter installation: the load it measures and its firmware."""

    model: str
    load_kw: float
    phase_energy: bool  # per-phase import energy registers (0x015A..)


PRESETS: dict[str, Preset] = {
    p.model: p
    for p in (
        Preset("SDM630 v2 (30 kW)", 30.0, True),
        Preset("SDM630 v2 (75 kW)", 75.0, True),
        Preset("SDM630 v1 (45 kW)", 45.0, False),
    )
}
DEFAULT_MODEL = "SDM630 v2 (30 kW)"


class MeterSim(ModbusSim):
    """One simulated three-phase meter; readings derive from ``seed`` and the clock."""

    family = "modbus_meter"

    def __init__(
        self,
        address: str,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        port: int = MODBUS_PORT,
        clock: Clock = time.time,
        unit_id: int = 1,
        word_order: str = "big",
    ) -> None:
        """A meter of ``model`` (a key of :data:`PRESETS`) answering unit ``unit_id``;
        ``word_order="little"`` stores floats low word first, as some gateways re-map them."""
        if model not in PRESETS:
            raise ValueError(f"unknown model {model!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, seed=seed, clock=clock, port=port, unit_id=unit_id)
        self.preset = PRESETS[model]
        if word_order not in ("big", "little"):
            raise ValueError(f"word_order must be 'big' or 'little', got {word_order!r}")
        self.word_order = word_order
        rng = random.Random(seed * 31 + 5)
        self.epoch = clock()
        self.energy_base = rng.uniform(20_000.0, 400_000.0)  # kWh before the sim started
        self.split = [rng.uniform(0.9, 1.1) for _ in range(3)]  # phases are never balanced

    @property
    def model(self) -> str:
        """The preset name."""
        return self.preset.model

    def params(self) -> dict[str, object]:
        """Unit id and the register map the driver must use."""
        params: dict[str, object] = {"unit_id": self.unit_id, "map": "sdm630"}
        if self.word_order != "big":
            params["word_order"] = self.word_order
        return params

    def info(self) -> dict[str, object]:
        """State for the control endpoint: the load it measures now."""
        now = self.clock()
        return {**super().info(), "power_w": round(self.power_w(now), 1),
                "energy_kwh": round(self.energy_kwh(now), 3)}  # fmt: skip

    def phase_lost(self) -> bool:
        """Whether L3 is gone (the ``dead_board`` fault)."""
        return self.faults.fault is Fault.DEAD_BOARD

    def power_w(self, now: float) -> float:
        """Total active power now."""
        return self.preset.load_kw * 1000.0 * (1.0 + 0.04 * wobble(self.seed, 1, now, 600.0))

    def energy_kwh(self, now: float) -> float:
        """Imported energy: the meter's history plus nominal load x time since start."""
        return self.energy_base + self.preset.load_kw * max(0.0, now - self.epoch) / 3600.0

    def registers(self, table: Table, now: float) -> Mapping[int, int]:
        """The input registers at ``now``."""
        if table is not Table.INPUT:
            return {}
        bank: dict[int, int] = {}

        def put(bank: dict[int, int], address: int, value: float) -> None:
            put_float(bank, address, value, self.word_order)

        for lo, hi in DENSE_BLOCKS:
            if lo == DENSE_BLOCKS[1][0] and not self.preset.phase_energy:
                continue
            for addr in range(lo, hi):
                bank[addr] = 0
        total = self.power_w(now)
        live = [i for i in range(3) if not (i == 2 and self.phase_lost())]
        weights = sum(self.split[i] for i in live)
        energy = self.energy_kwh(now)
        sum_w = sum_va = sum_var = sum_a = 0.0
        volts_sum = 0.0
        for i in range(3):
            up = i in live
            v = NOMINAL_V * (1.0 + 0.02 * wobble(self.seed, 10 + i, now, 240.0)) if up else 0.0
            pf = 0.97 + 0.02 * wobble(self.seed, 20 + i, now, 900.0) if up else 0.0
            p = total * self.split[i] / weights if up else 0.0
            va = p / pf if pf else 0.0
            var = math.sqrt(max(0.0, va * va - p * p))
            a = va / v if v else 0.0
            put(bank, 0x0000 + 2 * i, v)
            put(bank, 0x0006 + 2 * i, a)
            put(bank, 0x000C + 2 * i, p)
            put(bank, 0x0012 + 2 * i, va)
            put(bank, 0x0018 + 2 * i, var)
            put(bank, 0x001E + 2 * i, pf)
            put(bank, 0x0024 + 2 * i, math.degrees(math.acos(pf)) if pf else 0.0)
            if self.preset.phase_energy:
                share = energy * self.split[i] / sum(self.split)
                put(bank, PHASE_ENERGY + 2 * i, share)
            sum_w, sum_va, sum_var, sum_a = sum_w + p, sum_va + va, sum_var + var, sum_a + a
            volts_sum += v
        put(bank, 0x002A, volts_sum / 3)
        put(bank, 0x002E, sum_a / 3)
        put(bank, 0x0030, sum_a)
        put(bank, 0x0034, sum_w)
        put(bank, 0x0038, sum_va)
        put(bank, 0x003C, sum_var)
        put(bank, 0x003E, sum_w / sum_va if sum_va else 0.0)
        put(bank, 0x0046, 50.0 + 0.03 * noise(self.seed, 30, int(now)))
        put(bank, 0x0048, energy)
        put(bank, 0x004A, 0.0)  # export: farms do not feed the grid
        if self.preset.phase_energy:
            put(bank, 0x0156, energy)
        return bank


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> MeterSim:
    """One simulated meter (the registry's factory)."""
    return MeterSim(address, model=model or DEFAULT_MODEL, seed=seed, clock=clock)


FAMILY = SimFamily(family="modbus_meter", models=tuple(PRESETS), create=create, host=ModbusHost)
