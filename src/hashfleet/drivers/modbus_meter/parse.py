"""Meter register blocks → :class:`Snapshot` (``stats.meter``, ``stats.power_w``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.modbus_common import decode_regs
from hashfleet.drivers.modbus_meter.maps import MeterMap
from hashfleet.model.devices import MeterReadings, Phase
from hashfleet.model.snapshot import MinerConfig, MinerStats, Snapshot

NOMINAL_V = 230.0
PHASE_LOSS_V = NOMINAL_V * 0.5  # below this a connected phase is considered lost
ERR_PHASE_LOSS = "ERR_PHASE_LOSS"


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def parse_meter(meter: MeterMap, blocks: Mapping[int, Sequence[int]]) -> Snapshot:
    """Decode the blocks read (start address → registers) with ``meter``'s table.

    Raises :class:`DeviceReplyInvalid` when a required register is missing or not a finite
    number, and when values are physically impossible (negative voltage or frequency).
    """
    if not isinstance(blocks, Mapping):
        raise DeviceReplyInvalid("register blocks are not a mapping")
    values = decode_regs(meter.regs, blocks, meter.word_order)
    phases: list[Phase] = []
    for n in sorted({r.phase for r in meter.regs if r.phase is not None}):
        phases.append(
            Phase(
                index=n - 1,
                voltage_v=_r(values.get(f"voltage_l{n}"), 2),
                current_a=_r(values.get(f"current_l{n}")),
                power_w=_r(values.get(f"power_l{n}"), 1),
                power_factor=_r(values.get(f"power_factor_l{n}")),
                energy_kwh=_r(values.get(f"energy_l{n}")),
            )
        )
    for ph in phases:
        if ph.voltage_v is not None and not 0.0 <= ph.voltage_v <= 1000.0:
            raise DeviceReplyInvalid(f"L{ph.index + 1} voltage {ph.voltage_v} out of range")
    frequency = values.get("frequency")
    if frequency is not None and not 0.0 <= frequency <= 1000.0:
        raise DeviceReplyInvalid(f"frequency {frequency} out of range")
    power = _r(values.get("power"), 1)
    errors = [ERR_PHASE_LOSS] if any(
        ph.voltage_v is not None and ph.voltage_v < PHASE_LOSS_V for ph in phases
    ) else []  # fmt: skip
    readings = MeterReadings(
        phases=phases,
        power_w=power,
        energy_kwh=_r(values.get("energy_import")),
        frequency_hz=_r(frequency, 3),
    )
    return Snapshot(
        stats=MinerStats(power_w=power, meter=readings, errors=errors),
        config=MinerConfig(make=meter.make, model=meter.model),
    )
