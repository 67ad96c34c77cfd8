"""The cooling container driver: four reads per poll (input registers 0-13, holding 0-1,
coil 0, discrete inputs 0-11), and the controls ``set_cooling`` / ``set_setpoint``.

``opts.params``: ``unit_id`` (default 1).
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.container.parse import (
    COIL_COOLING,
    DISCRETE_COUNT,
    HOLDING_BLOCK,
    INPUT_BLOCK,
    parse_container,
)
from hashfleet.drivers.modbus_common import ModbusClient, param_int
from hashfleet.model.snapshot import Snapshot

SETPOINT_MIN, SETPOINT_MAX = 10.0, 60.0
SETPOINT_REGISTER = 0


class ContainerDriver:
    """Reads a cooling container into a :class:`Snapshot`; switches cooling, sets set point."""

    family: ClassVar[str] = "container"
    capabilities: ClassVar[frozenset[str]] = frozenset({"set_cooling", "set_setpoint"})

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the controller at ``opts.address`` (port 502 unless ``opts.port``)."""
        unit = param_int(opts.params, "unit_id", 1, 0, 255)
        self.client = ModbusClient(opts.address, opts.port, opts.timeout, unit)

    async def collect(self) -> Snapshot:
        """Poll once."""
        c = self.client
        inputs = await c.read_registers(4, INPUT_BLOCK.start, INPUT_BLOCK.count)
        holdings = await c.read_registers(3, HOLDING_BLOCK.start, HOLDING_BLOCK.count)
        coils = await c.read_bits(1, COIL_COOLING, 1)
        discretes = await c.read_bits(2, 0, DISCRETE_COUNT)
        return parse_container(inputs, holdings, coils, discretes)

    async def set_cooling(self, on: bool) -> None:
        """Switch the cooling (dry coolers) on or off; the pumps keep circulating."""
        await self.client.request(5, COIL_COOLING, value=bool(on))

    async def set_setpoint(self, celsius: float) -> None:
        """Set the supply set point, 10-60 °C (``ValueError`` outside), 0.1 °C resolution."""
        if not isinstance(celsius, (int, float)) or not SETPOINT_MIN <= celsius <= SETPOINT_MAX:
            raise ValueError(f"set point must be {SETPOINT_MIN}-{SETPOINT_MAX} °C, got {celsius!r}")
        await self.client.request(6, SETPOINT_REGISTER, value=[round(celsius * 10)])

    async def close(self) -> None:
        """Close the Modbus connection."""
        await self.client.close()
