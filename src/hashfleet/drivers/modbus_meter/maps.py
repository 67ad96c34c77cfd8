"""Register maps of supported meters: each a table of frozen descriptors read generically.

Names are ``<quantity>`` or ``<quantity>_l<n>`` for phase ``n``; the parser only looks at
the names, so a new meter is a new :class:`MeterMap` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashfleet.drivers.modbus_common import Reg, WordOrder


@dataclass(frozen=True, slots=True)
class MeterMap:
    """Where one meter model keeps its values."""

    name: str
    make: str
    model: str
    function: int  # 3 (holding) or 4 (input registers)
    word_order: WordOrder
    regs: tuple[Reg, ...]


def _phases(name: str, base: int, optional: bool = False) -> tuple[Reg, ...]:
    return tuple(
        Reg(f"{name}_l{i + 1}", base + 2 * i, phase=i + 1, optional=optional) for i in range(3)
    )


SDM630 = MeterMap(
    name="sdm630",
    make="Eastron",
    model="SDM630",
    function=4,
    word_order="big",
    regs=(
        *_phases("voltage", 0x0000),
        *_phases("current", 0x0006),
        *_phases("power", 0x000C),
        *_phases("power_factor", 0x001E),
        Reg("power", 0x0034),
        Reg("frequency", 0x0046),
        Reg("energy_import", 0x0048),
        # Per-phase import energy came with the v2 firmware; v1 answers exception 2.
        *_phases("energy", 0x015A, optional=True),
    ),
)

# Single-phase sibling: same encoding, a subset of the addresses.
SDM120 = MeterMap(
    name="sdm120",
    make="Eastron",
    model="SDM120",
    function=4,
    word_order="big",
    regs=(
        Reg("voltage_l1", 0x0000, phase=1),
        Reg("current_l1", 0x0006, phase=1),
        Reg("power_l1", 0x000C, phase=1),
        Reg("power_factor_l1", 0x001E, phase=1),
        Reg("power", 0x000C),
        Reg("frequency", 0x0046),
        Reg("energy_import", 0x0048),
    ),
)

MAPS: dict[str, MeterMap] = {m.name: m for m in (SDM630, SDM120)}
