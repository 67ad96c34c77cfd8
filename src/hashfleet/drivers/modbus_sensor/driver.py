"""The Modbus climate sensor driver: one read of input registers 0x0001-0x0002 per poll.

``opts.params``: ``unit_id`` (default 1). Sensors have no controls.
"""

from __future__ import annotations

from typing import ClassVar

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.modbus_common import ModbusClient, param_int
from hashfleet.drivers.modbus_sensor.parse import REGS, VALUES_AT, parse_sensor
from hashfleet.model.snapshot import Snapshot


class ModbusSensorDriver:
    """Reads a temperature/humidity sensor into a :class:`Snapshot`."""

    family: ClassVar[str] = "modbus_sensor"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the sensor at ``opts.address`` (port 502 unless ``opts.port``)."""
        unit = param_int(opts.params, "unit_id", 1, 0, 255)
        self.client = ModbusClient(opts.address, opts.port, opts.timeout, unit)

    async def collect(self) -> Snapshot:
        """Poll once."""
        words = await self.client.read_registers(4, VALUES_AT, len(REGS))
        return parse_sensor({VALUES_AT: words})

    async def close(self) -> None:
        """Close the Modbus connection."""
        await self.client.close()
